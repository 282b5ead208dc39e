import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// Shared by the kernel-knowledge commands (`ps`, `task`, `list`,
/// `per_cpu`, `mod`, `sys`): warnings, gdb-style value printing, options.
enum KernelCommandSupport {
    /// Text lines `COMMAND: warning: …` for the end of an output, and the JSON array.
    /// With `budget`, one line more per kind of warning the command's walks dropped.
    static func warnings(_ command: String, _ list: [String], budget: WalkBudget? = nil) -> (text: String, json: JSONValue) {
        let list = list + (budget?.droppedSummaries ?? [])
        let text = list.map { "\(command): warning: \($0)" }.joined(separator: "\n")
        return (text, .array(list.map { .string($0) }))
    }

    /// A command's view of kernel structures, built from DWARF; a kernel that lacks one is the command's error.
    static func layout<Layout>(_ command: String, _ make: () throws -> Layout) throws -> Layout {
        do {
            return try make()
        } catch let e as KernelError {
            throw CommandError.failed("\(command): \(e)", cause: e)
        }
    }

    /// The CPU a `-c CPU` (runq) or `-C CPU` (timer) option names, as a one-CPU list,
    /// checked against nr_cpu_ids; nil without the option (every CPU).
    static func cpuOption(_ args: CommandInvocation, _ option: String, kernel: Kernel, command: String) throws -> [Int]? {
        guard let word = args.value(option) else { return nil }
        let n = try kernel.nrCPUIds()
        guard let c = Int(word), c >= 0, c < n else {
            throw CommandError.outOfRange(value: UInt64(word), minimum: 0, maximum: UInt64(n - 1),
                                          message: "\(command): CPU \(word) is out of range: this kernel has CPU ids 0-\(n - 1)")
        }
        return [c]
    }

    static func join(_ body: String, _ warnings: String) -> String {
        if warnings.isEmpty { return body }
        if body.isEmpty { return warnings }
        return body + "\n" + warnings
    }

    static func formatter(_ session: Session, format: Character? = nil) throws -> ValueFormatter {
        let target = try session.requireTarget()
        return ValueFormatter(memory: target.memory, format: format, limits: session.printLimits, symbolize: { target.symbols?.describeForPointer($0) })
    }

    /// `name = value` lines for members (dotted paths) of the object at
    /// `address`, indented by two spaces as crash prints them; the JSON
    /// array `{name, type, value}`. A member that cannot be read prints
    /// its error in place of the value.
    static func members(_ paths: [String], of type: CType, at address: UInt64, kernel: Kernel,
                        formatter: ValueFormatter) throws -> (text: [String], json: [JSONValue]) {
        var lines: [String] = []
        var json: [JSONValue] = []
        for path in paths {
            let object = try kernel.object(type, at: address).path(path)
            let text: String
            do {
                text = try formatter.top(object.value)
            } catch {
                text = "<error: \(error)>"
            }
            let indented = text.split(separator: "\n", omittingEmptySubsequences: false)
                .enumerated().map { $0.offset == 0 ? String($0.element) : "  " + $0.element }.joined(separator: "\n")
            lines.append("  \(path) = \(indented)")
            json.append(.object([("name", .string(path)), ("type", .string(TypeFormatter.name(of: object.type))),
                                 ("value", .string(text))]))
        }
        return (lines, json)
    }
}
