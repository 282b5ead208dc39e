import MKFormat
import MKSystem
import MKKernel
import MKDebugInfo
import MKValues

/// crash's `tree -t rbtree|radix|xarray|maple [-o OFFSET|STRUCT.MEMBER] [-s STRUCT[.MEMBER,...]] [-N] ROOT`:
/// the entries of a kernel tree, in order, with chosen members of each.
enum TreeCommand {
    static let usage = "tree -t rbtree|radix|xarray|maple [-o OFFSET | -o STRUCT.MEMBER] [-s STRUCT[.MEMBER,...]] ROOT"

    static let spec = CommandSpec(
        name: "tree", group: "kernel",
        summary: "walk an rbtree, radix tree, xarray or maple tree: each entry in order, with chosen members",
        usage: usage, details: """

        ROOT is the tree's root (an expression): an rb_root (or rb_root_cached), a radix_tree_root
        or xarray, a maple_tree. rbtree entries are rb_nodes; -o gives the node's offset in its
        struct (a number, or STRUCT.MEMBER) so the entry is the struct. radix/xarray and maple
        entries are the stored pointers (maple ones with their index range). -s STRUCT.M1,M2 prints
        those members of each entry as struct does. The walks are bounded (set walk-limit) and
        cycle-checked.
        """,
        examples: ["tree -t maple &init_mm.mm_mt", "tree -t rbtree -o vmap_area.rb_node vmap_area_root",
                   "tree -t xarray -s page.flags &((struct address_space *)0xffff888003a3c0a0)->i_pages"],
        arguments: [ArgumentSpec("ROOT", .expression, .many, expected: "the tree's root")],
        options: [.option("-t", value: ArgumentSpec("TYPE", .words(["rbtree", "radix", "xarray", "maple"]), expected: "a tree type"),
                          help: "the kind of tree"),
                  .option("-o", value: ArgumentSpec("OFFSET", .expression, expected: "an offset or STRUCT.MEMBER"),
                          help: "the rb_node's offset in its struct"),
                  .option("-s", value: ArgumentSpec("STRUCT", .type, expected: "STRUCT[.MEMBER,...]"), help: "members of each entry")],
        json: ["type", "root", "count", "entries", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let target = try session.requireTarget()
        guard let kind = args.value("-t") else {
            throw CommandError.usage(command: "tree", message: "expected -t rbtree, radix, xarray or maple", usage: usage)
        }
        let word = args.words("ROOT").joined(separator: " ")
        let root = try PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? ExamineCommand.address(of: word, session, physical: false, command: "tree")
        // -o: a number, or STRUCT.MEMBER's offset.
        var offset: UInt64 = 0
        if let o = args.value("-o") {
            if let n = AddressExpression.parseNumber(o) { offset = n } else {
                let parts = o.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw CommandError.invalidArgument(o, message: "tree: -o needs a number or STRUCT.MEMBER") }
                offset = try kernel.offset(of: parts[1], in: try kernel.type("struct " + parts[0]))
            }
        }
        let budget = session.walkBudget()
        // (entry, index range) in order.
        var entries: [(address: UInt64, first: UInt64?, last: UInt64?)] = []
        var warnings: [WalkWarning] = []
        do {
            switch kind {
            case "rbtree":
                let walk = try RBTreeWalker(kernel: kernel, budget: budget).walk(root: try kernel.readU64(root))
                entries = walk.nodes.map { ($0 &- offset, nil, nil) }
                warnings = walk.warnings
            case "radix", "xarray":
                let walk = try kernel.xarrayEntries(at: root, budget: budget, name: kind == "radix" ? "radix tree" : "xarray")
                entries = walk.entries.map { ($0.pointer &- offset, $0.index, $0.index) }
                warnings = walk.warnings
            case "maple":
                let walk = try kernel.mapleTreeEntries(at: root, layout: try MapleTreeLayout(kernel), budget: budget)
                entries = walk.entries.map { ($0.pointer &- offset, $0.start, $0.end) }
                warnings = walk.warnings
            default:
                throw CommandError.invalidArgument(kind, message: "tree: -t must be rbtree, radix, xarray or maple")
            }
        } catch let e as KernelError {
            throw CommandError.failed("tree: \(e)", cause: e)
        }
        // -s STRUCT[.M1,M2]: each entry as that struct, or those members of it.
        var structType: CType?, members: [String] = []
        if let s = args.value("-s") {
            let parts = s.split(separator: ".", maxSplits: 1).map(String.init)
            structType = try kernel.type("struct " + parts[0])
            if parts.count == 2 { members = parts[1].split(separator: ",").map(String.init) }
        }
        let formatter = try KernelCommandSupport.formatter(session)
        var lines: [String] = []
        var json: [JSONValue] = []
        for e in entries {
            let range = e.first.map { f in e.last.map { $0 == f ? "[\(hex(f))]" : "[\(hex(f))-\(hex($0))]" } ?? "" } ?? ""
            lines.append(hexDigits(e.address) + (range.isEmpty ? "" : "  " + range))
            var object: [(String, JSONValue)] = [("address", jsonAddress(e.address)),
                                                 ("first", e.first.map { .uint($0) } ?? .null), ("last", e.last.map { .uint($0) } ?? .null)]
            if let structType {
                if members.isEmpty {
                    let text = (try? formatter.top(Value(type: structType, address: e.address))) ?? "<unreadable>"
                    lines += text.split(separator: "\n").map { "  " + $0 }
                    object.append(("value", .string(text)))
                } else {
                    let m = try KernelCommandSupport.members(members, of: structType, at: e.address, kernel: kernel, formatter: formatter)
                    lines += m.text
                    object.append(("members", .array(m.json)))
                }
            }
            json.append(.object(object))
        }
        if entries.isEmpty { lines.append("tree: no entries") }
        let w = KernelCommandSupport.warnings("tree", warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("type", .string(kind)), ("root", jsonAddress(root)), ("count", .int(Int64(entries.count))),
                                      ("entries", .array(json)), ("warnings", w.json)])
    }
}
