import MKFormat
import MKMemory

enum PtovCommand {
    static let spec = CommandSpec(
        name: "ptov", group: "kernel",
        summary: "the direct map's virtual address of a physical address, as crash's ptov",
        usage: "ptov PHYSICAL", details: """

        PHYSICAL is a number (hex without 0x too, as crash reads it) or symbol±offset.
        """,
        examples: ["ptov 1000000", "ptov 0x56e000"],
        arguments: [ArgumentSpec("PHYSICAL", .address, expected: "a physical address")],
        json: ["physical", "virtual"]
    ) { args, session in
        let target = try session.requireTarget()
        let word = args.argument("PHYSICAL") ?? ""
        let pa = try PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? AddressExpression.evaluate(word, target: target)
        let layout = try target.memory.requireLayout()
        guard let va = layout.physicalToDirect(pa) else {
            throw CommandError.outOfRange(value: pa, minimum: 0, maximum: layout.physicalLimit, message: "ptov: physical address \(hex(pa)) is beyond the direct map (physical memory ends at \(hex(layout.physicalLimit)))")
        }
        let text = PageTableText.padded("VIRTUAL", 18) + "PHYSICAL\n" + PageTableText.padded(PageTableText.hexText(va), 18) + PageTableText.hexText(pa)
        return CommandOutput(text: text, fields: [("physical", jsonAddress(pa)), ("virtual", jsonAddress(va))])
    }
}
