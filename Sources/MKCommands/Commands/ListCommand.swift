import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

enum ListCommand {
    static let usage = "list [-H] [-h] [-r] [-o OFFSET|STRUCT.MEMBER] [-s STRUCT[.MEMBER][,MEMBER...]] HEAD"

    static let spec = CommandSpec(
        name: "list", group: "kernel",
        summary: "walk a linked list (list_head or hlist) and print its entries, as crash's list",
        usage: usage, details: """

        HEAD is an expression. A struct list_head, hlist_head or hlist_node (or a pointer to one)
        is the linkage itself; any other struct, pointer or number is an entry's address, whose
        linkage is at the -o/-s offset (crash's convention).
          -H   HEAD is the list's head, not an entry (implied for an hlist_head)
          -h   the list is an hlist (implied when the types say so)
          -r   walk backwards (prev), lists only
          -o   offset of the linkage in the entry: a number or STRUCT.MEMBER
          -s   STRUCT.LINK,MEMBER,...: entries are STRUCTs linked by their LINK member (when -o is
               not given and LINK is a list_head or hlist_node), printing each MEMBER;
               -s STRUCT (with -o) prints whole entries; -s STRUCT.M1,M2 with -o prints M1, M2
        Entries print as their addresses (container_of the linkage). The walk is bounded (set
        walk-limit) and stops with a warning naming the address at a loop, a bad pointer, or
        (when the linkage is typed as a list_head or hlist) a link whose prev does not lead back.
        """,
        examples: ["list -H init_task.tasks -s task_struct.tasks,pid,comm",
                   "list -H modules -s module.list,name",
                   "list -o task_struct.tasks -s task_struct.pid,comm init_task",
                   "list -H init_task.children -s task_struct.sibling,comm"],
        arguments: [.expression("HEAD", expected: "a HEAD expression")],
        options: [.flag("-H", help: "HEAD is the list's head, not an entry"), .flag("-h", help: "the list is an hlist"),
                  .flag("-r", help: "walk backwards (prev)"),
                  .option("-o", value: ArgumentSpec("OFFSET|STRUCT.MEMBER", .text, expected: "expects a value"), help: "offset of the linkage in the entry"),
                  .option("-s", value: ArgumentSpec("STRUCT[.MEMBER][,MEMBER...]", .text, expected: "expects a value"), help: "entries' struct, linkage and members to print")],
        json: ["kind", "head", "head_is_entry", "link_offset", "count", "complete", "entries", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let evaluator = try session.evaluator()
        let target = try session.requireTarget()

        // -s STRUCT[.M][,M...]
        var structType: CType?
        var display: [String] = []
        if let s = args.value("-s") {
            let parts = s.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let first = parts[0]
            let name = first.split(separator: ".", maxSplits: 1).map(String.init)
            structType = try resolveStruct(name[0], kernel)
            if name.count > 1 { display.append(name[1]) }
            display += parts.dropFirst().filter { !$0.isEmpty }
        }

        // Linkage: -o, else the first -s member when it is a list_head / hlist_node.
        var linkOffset: UInt64 = 0
        var linkKind: ListQuery.Kind?
        if let o = args.value("-o") {
            if let n = AddressExpression.parseNumber(o) {
                linkOffset = n
            } else {
                let parts = o.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw CommandError.invalidArgument(o, message: "list: -o wants a number or STRUCT.MEMBER, not \"\(o)\"")
                }
                let t = try resolveStruct(parts[0], kernel)
                let f = try kernel.field(parts[1], in: t)
                linkOffset = UInt64(f.offset)
                linkKind = linkageKind(f.type)
                if structType == nil { structType = t }
            }
        } else if let t = structType, let m = display.first {
            let f = try kernel.field(m, in: t)
            guard let k = linkageKind(f.type) else {
                throw CommandError.wrongType(expression: "\(TypeFormatter.name(of: t)).\(m)", type: TypeFormatter.name(of: f.type), message: "list: \(TypeFormatter.name(of: t)).\(m) is a \(TypeFormatter.name(of: f.type)), not a list_head or hlist_node; give the linkage with -o STRUCT.MEMBER")
            }
            linkOffset = UInt64(f.offset)
            linkKind = k
            display.removeFirst()
        }

        // HEAD
        let headText = args.argument("HEAD") ?? ""
        let value = try ExpressionRunner.evaluate(headText, evaluator)
        let r = value.type.resolved
        var headKind: String?
        var address: UInt64
        switch r.kind {
        case .structure, .union:
            guard let a = value.address else { throw CommandError.notInMemory(expression: headText, message: "list: \(headText) is not in memory") }
            address = a
            headKind = r.name
        case .pointer:
            address = try value.integerBits(target.memory)
            headKind = r.target?.resolved.kind == .structure ? r.target?.resolved.name : nil
        case .integer, .enumeration:
            address = try value.integerBits(target.memory)
        case .array:
            guard let a = value.address else { throw CommandError.notInMemory(expression: headText, message: "list: \(headText) is not in memory") }
            address = a
        default:
            throw CommandError.wrongType(expression: headText, type: TypeFormatter.name(of: value.type), message: "list: HEAD must be a list_head, a pointer or an address; \(headText) is a \(TypeFormatter.name(of: value.type))")
        }
        let linkageHead = ["list_head", "hlist_head", "hlist_node"].contains(headKind ?? "")
        var kind: ListQuery.Kind = linkKind ?? .list
        if headKind == "hlist_head" || headKind == "hlist_node" || args.has("-h") { kind = .hlist }
        let startIsHead = args.has("-H") || headKind == "hlist_head"
        var start = address
        if !linkageHead && !args.has("-H") { start = address &+ linkOffset }
        if args.has("-r") && kind == .hlist {
            throw CommandError.invalidArgument("-r", message: "list: -r needs a doubly linked list_head list; hlists go one way")
        }

        var query = ListQuery(kind: kind, start: start, startIsHead: startIsHead, linkOffset: linkOffset)
        query.reverse = args.has("-r")
        // Only a typed list_head or hlist linkage is known to have a way back to check.
        query.checksBackLinks = linkageHead || linkKind != nil
        let budget = session.walkBudget()
        let result = kernel.walk(query, budget: budget)

        let formatter = try KernelCommandSupport.formatter(session)
        var lines: [String] = []
        var entries: [JSONValue] = []
        for e in result.entries {
            lines.append(hexDigits(e))
            var entry: [(String, JSONValue)] = [("address", jsonAddress(e))]
            if let t = structType {
                if display.isEmpty && args.value("-o") != nil {
                    // -s STRUCT with -o: the whole entry.
                    let text: String
                    do { text = try formatter.top(Value(type: t, address: e)) } catch { text = "<error: \(error)>" }
                    lines.append(text)
                    entry.append(("value", .string(text)))
                } else if !display.isEmpty {
                    let m = try KernelCommandSupport.members(display, of: t, at: e, kernel: kernel, formatter: formatter)
                    lines += m.text
                    entry.append(("members", .array(m.json)))
                }
            }
            entries.append(.object(entry))
        }
        let w = KernelCommandSupport.warnings("list", result.warnings.map { "\(headText): \($0)" }, budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text), fields: [
            ("kind", .string(kind.rawValue)), ("head", jsonAddress(start)), ("head_is_entry", .bool(!startIsHead)),
            ("link_offset", .uint(linkOffset)), ("count", .int(Int64(result.entries.count))),
            ("complete", .bool(result.complete)), ("entries", .array(entries)), ("warnings", w.json)])
    }

    /// `task_struct` → `struct task_struct` (or a union or typedef of that name).
    static func resolveStruct(_ name: String, _ kernel: Kernel) throws -> CType {
        let bare = name.hasPrefix("struct ") ? String(name.dropFirst(7)) : name
        for spelled in ["struct \(bare)", "union \(bare)", bare] {
            if let t = try? kernel.type(spelled), t.resolved.kind == .structure || t.resolved.kind == .union { return t }
        }
        throw CommandError.unknownName(bare, message: "list: no struct or union named \(bare) in the kernel's debug info")
    }

    static func linkageKind(_ t: CType) -> ListQuery.Kind? {
        let r = t.resolved
        guard r.kind == .structure else { return nil }
        switch r.name {
        case "list_head": return .list
        case "hlist_node": return .hlist
        default: return nil
        }
    }
}
