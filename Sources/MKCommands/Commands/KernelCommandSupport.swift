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

    /// Splits words into options (`-x`, `-o VALUE` for those in `valued`) and the rest.
    static func options(_ words: [String], flags: Set<Character>, valued: Set<Character>, command: String,
                        usage: String) throws -> (flags: Set<Character>, values: [Character: String], rest: [String]) {
        var set = Set<Character>()
        var values: [Character: String] = [:]
        var rest: [String] = []
        var i = 0
        while i < words.count {
            let w = words[i]
            let isOption = w.count >= 2 && w.first == "-" && !(w.dropFirst().first?.isNumber ?? true)
            if isOption, w.dropFirst().allSatisfy({ flags.contains($0) || valued.contains($0) }) {
                var chars = Array(w.dropFirst())
                while let c0 = chars.first {
                    chars.removeFirst()
                    if valued.contains(c0) {
                        let value: String
                        if !chars.isEmpty {
                            value = String(chars)
                            chars = []
                        } else {
                            guard i + 1 < words.count else {
                                throw CommandError.usage(command: command, message: "-\(c0) expects a value", usage: usage)
                            }
                            i += 1
                            value = words[i]
                        }
                        values[c0] = value
                    } else {
                        set.insert(c0)
                    }
                }
            } else if isOption {
                throw CommandError.usage(command: command, message: "unknown option \(w)", usage: usage)
            } else {
                rest.append(w)
            }
            i += 1
        }
        return (set, values, rest)
    }
}

/// The kernel-knowledge commands, for `BuiltinCommands.all`.
enum KernelCommands {
    static var all: [CommandSpec] {
        [SysCommand.spec, PsCommand.spec, TaskCommand.spec, ListCommand.spec, PerCpuCommand.spec, ModCommand.spec]
    }
}
