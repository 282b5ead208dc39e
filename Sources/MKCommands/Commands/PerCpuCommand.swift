import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

enum PerCpuCommand {
    static let usage = "per_cpu[/FMT] VAR[.MEMBER|[N]...] [CPU]"

    static let spec = CommandSpec(
        name: "per_cpu", aliases: ["percpu"], group: "kernel",
        summary: "a per-CPU variable's value on one CPU or on every possible CPU",
        usage: usage, details: """

        CPU n's copy is at the variable's section offset plus __per_cpu_offset[n]. VAR may be
        followed by .member and [index] (no ->). Without CPU, every possible CPU is shown.
        FMT is print's format letter (x d u o t c a s z).
        """,
        examples: ["per_cpu current_task", "per_cpu runqueues.nr_running 1", "per_cpu/x runqueues.curr",
                   "per_cpu irq_stat"],
        arguments: [.expression("VAR", expected: "a per-CPU variable"), ArgumentSpec("CPU", .integer, .optional)],
        json: ["expression", "type", "offset", "cpus"]
    ) { args, session in
        let cpuArg = args.argument("CPU").flatMap { Int($0) }
        var format: Character?
        if let f = args.format {
            guard f.count == 1, let c = f.first, "xduotcasz".contains(c) else {
                throw CommandError.invalidArgument("/" + f, message: "per_cpu: unknown format /\(f); formats are x d u o t c a s z")
            }
            format = c
        }
        let expression = args.argument("VAR") ?? ""
        if expression.contains("->") || expression.contains("*") || expression.contains("&") {
            throw CommandError.invalidArgument(expression, message: "per_cpu: \(expression): only .member and [index] may follow the variable (its per-CPU copies are found by offset)")
        }
        let kernel = try session.kernel()
        let evaluator = try session.evaluator()
        // The expression is evaluated at the variable's section offset, then moved to each CPU's copy.
        let value = try ExpressionRunner.evaluate(expression, evaluator)
        guard let offsetAddress = value.address else {
            throw CommandError.notInMemory(expression: expression, message: "per_cpu: \(expression) is not a variable in memory")
        }
        let name = String(expression.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        let base = try kernel.address(of: name)
        guard kernel.isPerCPU(base) else {
            throw CommandError.invalidArgument(name, message: "per_cpu: \(name) is not a per-CPU variable (its address \(hex(base)) is outside the per-CPU section)")
        }
        let offsets = try kernel.perCPUOffsets()
        let cpus: [Int]
        if let cpuArg {
            guard cpuArg >= 0, cpuArg < offsets.count else {
                throw CommandError.outOfRange(value: cpuArg >= 0 ? UInt64(cpuArg) : nil, minimum: 0, maximum: UInt64(offsets.count - 1), message: "per_cpu: CPU \(cpuArg) is out of range: this kernel has CPU ids 0-\(offsets.count - 1)")
            }
            cpus = [cpuArg]
        } else {
            cpus = (try? kernel.cpus(.possible)) ?? Array(0..<offsets.count)
        }
        let formatter = try KernelCommandSupport.formatter(session, format: format)
        var lines: [String] = []
        var json: [JSONValue] = []
        var failures = 0
        var firstError: Error?
        for cpu in cpus {
            let address = try kernel.perCPUAddress(offsetAddress, cpu: cpu, offsets: offsets)
            var v = value
            v.location = .memory(address: address)
            let text: String
            var entry: [(String, JSONValue)] = [("cpu", .int(Int64(cpu))), ("address", jsonAddress(address))]
            do {
                text = try formatter.top(v)
                entry.append(("value", .string(text)))
                if v.type.isScalar, let bits = try? v.integerBits(kernel.memory) {
                    entry.append(("integer", v.type.resolved.isSigned ? .int(Int64(bitPattern: bits)) : .uint(bits)))
                }
            } catch {
                failures += 1
                if firstError == nil { firstError = error }
                text = "<error: \(error)>"
                entry.append(("error", ErrorReport(error).json))
            }
            lines.append("per_cpu(\(expression), \(cpu)) = \(text)")
            json.append(.object(entry))
        }
        if failures == cpus.count, let firstError {
            throw CommandError.failed(lines.joined(separator: "\n"), cause: firstError)
        }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [
            ("expression", .string(expression)), ("type", .string(TypeFormatter.name(of: value.type))),
            ("offset", jsonAddress(offsetAddress)), ("cpus", .array(json))])
    }
}
