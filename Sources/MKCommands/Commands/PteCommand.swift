import MKFormat
import MKMemory

enum PteCommand {
    static let spec = CommandSpec(
        name: "pte", group: "kernel",
        summary: "decode a page-table entry's value: flags and physical address, as crash's pte",
        usage: "pte VALUE", details: """

        VALUE is a last-level (4 KiB) entry, hex as crash reads it (0x optional); decoded by the
        target's architecture.
        """,
        examples: ["pte 8000000001000163", "pte 0x1e0d067"],
        arguments: [ArgumentSpec("VALUE", .text, expected: "an entry's value")],
        json: ["value", "physical", "present", "flags"]
    ) { args, session in
        let target = try session.requireTarget()
        let word = args.argument("VALUE") ?? ""
        guard let value = PageTableText.crashNumber(word) else {
            throw CommandError.invalidArgument(word, message: "pte: \"\(word)\" is not a number (hex, 0x optional)")
        }
        let walker = try target.memory.pageTableWalker()
        let info = walker.decode(value, level: "pte")
        return CommandOutput(text: PageTableText.entryTable(value, info),
                             fields: [("value", jsonAddress(value)), ("physical", jsonAddress(info.address)),
                                      ("present", .bool(info.flags.contains("PRESENT"))),
                                      ("flags", .array(info.flags.map { .string($0) }))])
    }
}
