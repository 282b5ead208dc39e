import MKFormat
import MKKernel

/// crash's `irq [N]`: the IRQ descriptors with their chip, actions,
/// affinity and per-CPU counts.
enum IrqCommand {
    static let usage = "irq [IRQ]"

    static let spec = CommandSpec(
        name: "irq", group: "kernel",
        summary: "IRQ descriptors: number, irq_desc, first irqaction, chip, affinity, count, action names",
        usage: usage, details: """

        The descriptors come from the sparse_irqs maple tree (6.5 on) or the irq_desc_tree radix
        tree. CHIP is irq_data.chip->name, NAME each irqaction's name along action->next,
        AFFINITY irq_common_data.affinity, COUNT kstat_irqs summed over the possible CPUs
        (per CPU with an IRQ number, and in the JSON).
        """,
        examples: ["irq", "irq 4"],
        arguments: [ArgumentSpec("IRQ", .integer, .optional, expected: "an IRQ number")],
        json: ["irqs", "warnings"],
        excess: "expected at most one IRQ number"
    ) { args, session in
        let kernel = try session.kernel()
        var only: UInt64?
        if let word = args.words("IRQ").first {
            guard let n = UInt64(word) ?? (word.hasPrefix("0x") ? UInt64(word.dropFirst(2), radix: 16) : nil) else {
                throw CommandError.usage(command: "irq", message: "\(word) is not an IRQ number", usage: usage)
            }
            only = n
        }
        let layout = try KernelCommandSupport.layout("irq") { try InterruptLayout(kernel) }
        let budget = session.walkBudget()
        let result: InterruptDescriptors
        do {
            result = try kernel.interruptDescriptors(only: only, layout: layout, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("irq: \(e)", cause: e)
        }
        if let only, result.descriptors.isEmpty {
            throw CommandError.invalidArgument(String(only), message: "irq: IRQ \(only) has no descriptor in this kernel")
        }
        let chipWidth = max(4, result.descriptors.map { ($0.chip ?? "").count }.max() ?? 0)
        var lines = [" IRQ  " + "IRQ_DESC".rightPadded(16) + " " + "IRQACTION".rightPadded(16) + " " + "CHIP".rightPadded(chipWidth)
                     + " AFFINITY " + "COUNT".leftPadded(10, with: " ") + "  NAME"]
        var json: [JSONValue] = []
        for d in result.descriptors {
            let affinity = d.affinity.map { SysCommand.cpuList($0) } ?? "?"
            let total = d.counts.reduce(UInt64(0)) { $0 &+ $1.count }
            let action = d.action == 0 ? String(repeating: " ", count: 16) : hexDigits(d.action)
            lines.append(String(d.irq).leftPadded(4, with: " ") + "  \(hexDigits(d.desc)) \(action) "
                         + (d.chip ?? "").rightPadded(chipWidth) + " " + affinity.rightPadded(8) + " "
                         + String(total).leftPadded(10, with: " ")
                         + (d.actionNames.isEmpty ? "" : "  " + d.actionNames.map { "\"\($0)\"" }.joined(separator: ", ")))
            if only != nil {
                for c in d.counts { lines.append("      CPU \(c.cpu): \(c.count)") }
            }
            json.append(.object([("irq", .uint(d.irq)), ("irq_desc", jsonAddress(d.desc)),
                                 ("irqaction", d.action == 0 ? .null : jsonAddress(d.action)),
                                 ("chip", d.chip.map { .string($0) } ?? .null),
                                 ("actions", .array(d.actionNames.map { .string($0) })),
                                 ("affinity", d.affinity.map { .array($0.map { .int(Int64($0)) }) } ?? .null),
                                 ("counts", .array(d.counts.map { .object([("cpu", .int(Int64($0.cpu))), ("count", .uint($0.count))]) })),
                                 ("total", .uint(total))]))
        }
        let w = KernelCommandSupport.warnings("irq", result.warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("irqs", .array(json)), ("warnings", w.json)])
    }
}
