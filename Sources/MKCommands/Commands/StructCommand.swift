import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// crash's `struct` and `union`: a type's layout, or objects of it at an address.
enum StructCommand {
    /// Most objects one command prints (`-c`).
    static let maxCount = 4096

    static let structSpec = spec("struct")
    static let unionSpec = spec("union")

    static func spec(_ keyword: String) -> CommandSpec {
        let example = keyword == "struct" ? "task_struct" : "bpf_attr"
        return CommandSpec(
            name: keyword, group: "data",
            summary: "print a \(keyword) at an address, chosen members of it, or its layout (-o), as crash's \(keyword)",
            usage: "\(keyword) TYPE[.MEMBER[,MEMBER...]] [-o] [ADDRESS] [-c COUNT]", details: """

            Without ADDRESS: the \(keyword)'s definition (-o: each member's offset, as crash prints
            it: `[OFFSET] TYPE NAME;`, then SIZE). With ADDRESS (any expression: a \(keyword) lvalue
            means its address, a pointer or number its value; a word of hex digits that is no symbol
            is hex, as crash reads it): the object as print shows it, or its MEMBERs (dotted paths);
            -o with ADDRESS shows each member's address instead of its offset. -c COUNT prints COUNT
            consecutive objects from ADDRESS (at most \(maxCount)).
            """,
            examples: ["\(keyword) \(example)", "\(keyword) -o \(example)",
                       keyword == "struct" ? "struct task_struct.pid,comm init_task" : "union bpf_attr.map_type 0xffff888001000000",
                       keyword == "struct" ? "struct list_head init_task.tasks -c 2" : "union -o bpf_attr.map_type,key_size"],
            arguments: [ArgumentSpec("TYPE[.MEMBER[,MEMBER...]]", .type, expected: "a \(keyword) name"),
                        ArgumentSpec("ADDRESS", .expression, .many, expected: "an address")],
            options: [.flag("-o", help: "member offsets (with ADDRESS: member addresses)"),
                      .option("-c", value: ArgumentSpec("COUNT", .integer, expected: "expects a count"), help: "COUNT consecutive objects")],
            json: ["type", "size", "address", "count", "objects", "members", "text"]
        ) { args, session in
            try run(keyword, args, session)
        }
    }

    static func run(_ keyword: String, _ args: CommandInvocation, _ session: Session) throws -> CommandOutput {
        let kernel = try session.kernel()
        let spec = args.argument("TYPE[.MEMBER[,MEMBER...]]") ?? ""
        let (type, members) = try parseSpec(spec, keyword: keyword, kernel)
        let typeName = TypeFormatter.name(of: type)
        guard let size = type.byteSize, size > 0 else {
            throw CommandError.wrongType(expression: typeName, type: typeName, message: "\(keyword): \(typeName) has no size (a declaration only?)")
        }
        let offsets = args.has("-o")
        let addressWords = args.words("ADDRESS")
        var count = 1
        if let c = args.value("-c") {
            guard let n = Int(c), n >= 1, n <= maxCount else {
                throw CommandError.invalidArgument(c, message: "\(keyword): -c wants a count from 1 to \(maxCount), not \"\(c)\"")
            }
            count = n
        }
        var fields: [(String, JSONValue)] = [("type", .string(typeName)), ("size", .uint(size))]
        guard !addressWords.isEmpty else {
            guard args.value("-c") == nil else { throw CommandError.usage(command: keyword, message: "-c needs an ADDRESS", usage: "\(keyword) TYPE[.MEMBER[,MEMBER...]] [-o] [ADDRESS] [-c COUNT]") }
            let layout = try layoutLines(type, members, base: nil, kernel)
            let text: String
            if offsets || !members.isEmpty {
                text = (members.isEmpty ? ["\(typeName) {"] + layout.text + ["}", "SIZE: \(size)"] : layout.text).joined(separator: "\n")
            } else {
                text = TypeFormatter.ptype(type)
            }
            fields += [("address", .null), ("count", .uint(0)), ("objects", .array([])), ("members", .array(layout.json)), ("text", .string(text))]
            return CommandOutput(text: text, fields: fields)
        }
        let target = try session.requireTarget()
        let word = addressWords.joined(separator: " ")
        let start = try PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? ExamineCommand.address(of: word, session, physical: false, command: "\(keyword)")
        let formatter = try KernelCommandSupport.formatter(session)
        var blocks: [String] = []
        var objects: [JSONValue] = []
        for i in 0..<count {
            try Cancellation.check()
            let (step, o1) = size.multipliedReportingOverflow(by: UInt64(i))
            guard !o1, let address = checkedAdd(start, step) else {
                throw CommandError.outOfRange(value: nil, minimum: nil, maximum: nil, message: "\(keyword): object \(i) of \(count) from \(hex(start)) is past the top of the address space")
            }
            var object: [(String, JSONValue)] = [("address", jsonAddress(address))]
            if offsets {
                let layout = try layoutLines(type, members, base: address, kernel)
                blocks.append((members.isEmpty ? ["\(typeName) {"] + layout.text + ["}"] : layout.text).joined(separator: "\n"))
                object.append(("members", .array(layout.json)))
            } else if members.isEmpty {
                let text = try formatter.top(Value(type: type, address: address))
                blocks.append("\(typeName) \(text)")
                object.append(("value", .string(text)))
            } else {
                let m = try KernelCommandSupport.members(members, of: type, at: address, kernel: kernel, formatter: formatter)
                blocks.append(m.text.joined(separator: "\n"))
                object.append(("members", .array(m.json)))
            }
            objects.append(.object(object))
        }
        let text = blocks.joined(separator: "\n")
        fields += [("address", jsonAddress(start)), ("count", .uint(UInt64(count))), ("objects", .array(objects)),
                   ("members", .array([])), ("text", .string(text))]
        return CommandOutput(text: text, fields: fields)
    }

    /// `task_struct.pid,comm` → (struct task_struct, ["pid", "comm"]).
    static func parseSpec(_ text: String, keyword: String, _ kernel: Kernel) throws -> (CType, [String]) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let head = (parts.first ?? "").split(separator: ".", maxSplits: 1).map(String.init)
        var name = head.first ?? ""
        if name.hasPrefix(keyword + " ") { name = String(name.dropFirst(keyword.count + 1)) }
        let spelled = "\(keyword) \(name)"
        let type: CType
        do { type = try kernel.type(spelled) } catch {
            throw CommandError.unknownName(name, message: "\(keyword): no \(spelled) in the kernel's debug info")
        }
        guard type.resolved.kind == (keyword == "union" ? .union : .structure) else {
            throw CommandError.wrongType(expression: spelled, type: spelled, message: "\(keyword): \(spelled) is not a \(keyword)")
        }
        var members: [String] = []
        if head.count > 1 { members.append(head[1]) }
        members += parts.dropFirst()
        if members.contains(where: { $0.isEmpty }) {
            throw CommandError.invalidArgument(text, message: "\(keyword): empty member name in \"\(text)\"")
        }
        return (type, members)
    }

    /// `[OFFSET] TYPE NAME;` per member (top-level ones, or the chosen
    /// paths); with `base`, `[ADDRESS]` instead of the offset.
    static func layoutLines(_ type: CType, _ paths: [String], base: UInt64?, _ kernel: Kernel) throws -> (text: [String], json: [JSONValue]) {
        var rows: [(name: String, decl: String, offset: UInt64, bits: (UInt64, UInt64)?)] = []
        if paths.isEmpty {
            for m in type.resolved.members {
                var decl = TypeFormatter.declaration(m.type, m.name ?? "")
                if let b = m.bitSize { decl += " : \(b)" }
                rows.append((m.name ?? "", decl + ";", m.offset, m.bitSize.map { (m.bitOffset ?? 0, $0) }))
            }
        } else {
            for p in paths {
                let f = try kernel.field(p, in: type)
                let leaf = String(p.split(separator: ".").last ?? Substring(p))
                var decl = TypeFormatter.declaration(f.type, leaf)
                if let b = f.bitSize { decl += " : \(b)" }
                rows.append((p, decl + ";", UInt64(f.offset), f.bitSize.map { (f.bitOffset ?? 0, $0) }))
            }
        }
        var text: [String] = []
        var json: [JSONValue] = []
        for r in rows {
            let at = base.flatMap { checkedAdd($0, r.offset) }
            let label = at.map { String($0, radix: 16) } ?? String(r.offset)
            text.append("  " + String(repeating: " ", count: max(0, (base == nil ? 5 : 16) - label.count)) + "[\(label)] \(r.decl)")
            var o: [(String, JSONValue)] = [("name", .string(r.name)), ("declaration", .string(r.decl)), ("offset", .uint(r.offset))]
            if let at { o.append(("address", jsonAddress(at))) }
            if let (bo, bs) = r.bits { o.append(("bit_offset", .uint(bo))); o.append(("bit_size", .uint(bs))) }
            json.append(.object(o))
        }
        return (text, json)
    }
}
