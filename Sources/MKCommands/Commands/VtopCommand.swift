import MKFormat
import MKMemory
import MKKernel

enum VtopCommand {
    static let usage = "vtop ADDRESS"

    static let spec = CommandSpec(
        name: "vtop", group: "kernel",
        summary: "translate a kernel virtual address through the page tables, as crash's vtop",
        usage: usage, details: """

        ADDRESS is an expression (a struct lvalue means its address, as x takes it); a bare word
        of hex digits that is no symbol is hex, as crash reads it. The walk starts at the kernel's
        top-level table (init_top_pgt, init_mm's pgd) and prints each level's entry: where it is
        (physical), its value and its flags; then the page, its size, and the page's struct page
        (vmemmap base + PFN × sizeof(struct page)). Direct-map and kernel-text addresses are walked
        too, not computed. An address with no mapping fails naming the level whose entry is not
        present.
        """,
        examples: ["vtop init_task", "vtop ffffffff81000000", "vtop 0xffff888001000000"],
        arguments: [ArgumentSpec("ADDRESS", .address, expected: "an address")],
        json: ["virtual", "physical", "page_size", "root", "levels", "flags", "pfn", "page"]
    ) { args, session in
        let target = try session.requireTarget()
        let word = args.argument("ADDRESS") ?? ""
        let va = try PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? ExamineCommand.address(of: word, session, physical: false, command: "vtop")
        let walker = try target.memory.pageTableWalker()
        let walk = try walker.walk(va)
        let t: Translation
        do { t = try walk.requireMapped() } catch let e as PageTableWalkError { throw e.memoryError }

        var lines = [PageTableText.padded("VIRTUAL", 18) + "PHYSICAL",
                     PageTableText.padded(PageTableText.hexText(va), 18) + PageTableText.hexText(t.physical), "",
                     "\(walk.steps.first?.level.uppercased() ?? "PGD") DIRECTORY: \(PageTableText.hexText(walk.root))"]
        var levels: [JSONValue] = []
        var leaf: (UInt64, PageTableEntryInfo)?
        for step in walk.steps {
            let info = walker.decode(step.entry, level: step.level)
            let name = step.level.uppercased()
            lines.append(String(repeating: " ", count: max(0, 6 - name.count)) + "\(name): \(PageTableText.hexText(step.entryAddress)) => "
                         + "\(PageTableText.hexText(step.entry))  \(PageTableText.flags(info.flags))")
            levels.append(.object([("level", .string(step.level)), ("entry_address", jsonAddress(step.entryAddress)),
                                   ("entry", jsonAddress(step.entry)), ("flags", .array(info.flags.map { .string($0) })),
                                   ("address", jsonAddress(info.address))]))
            if info.isLeaf { leaf = (step.entry, info) }
        }
        let frame = t.physical & ~(t.pageSize - 1)
        lines.append("  PAGE: \(PageTableText.hexText(frame))  (\(PageTableText.sizeText(t.pageSize)))")
        if let (entry, info) = leaf {
            lines += ["", PageTableText.entryTable(entry, info)]
        }
        var fields: [(String, JSONValue)] = [
            ("virtual", jsonAddress(va)), ("physical", jsonAddress(t.physical)), ("page_size", .uint(t.pageSize)),
            ("root", jsonAddress(walk.root)), ("levels", .array(levels)),
            ("flags", .array((leaf?.1.flags ?? []).map { .string($0) })),
        ]
        let map = try? MemoryMap(target: target, sizeOfPage: { (try? session.kernel().type("struct page"))?.byteSize })
        let pfn = t.physical / (map?.pageSize ?? 4096)
        fields.append(("pfn", .uint(pfn)))
        if let map, let page = map.page(ofPhysical: t.physical) {
            lines += ["", PageTableText.padded("      PAGE", 18) + PageTableText.padded("PHYSICAL", 10) + "PFN",
                      PageTableText.padded(PageTableText.hexText(page), 18) + PageTableText.padded(PageTableText.hexText(t.physical & ~(map.pageSize - 1)), 10) + "\(pfn)"]
            fields.append(("page", jsonAddress(page)))
        } else {
            fields.append(("page", .null))
        }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }
}
