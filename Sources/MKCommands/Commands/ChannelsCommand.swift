import MKFormat
import MKDebugInfo
import MKMultikernel

/// `channels [NAME] [-a] [--layout ERA|FILE]`: the inbox rings of the host
/// and of each instance, with every pending message decoded
/// (`MKMultikernel/Channels.swift` does the work).
enum ChannelsCommand {
    static let usage = "channels [NAME] [-a] [--layout ERA|FILE]"

    static let spec = CommandSpec(
        name: "channels", group: "multikernel",
        summary: "the message rings (inboxes) of the host and each instance: head, tail, pending messages decoded",
        usage: usage,
        examples: ["channels", "channels host", "channels web -a", "channels --layout 00ff7b01"],
        arguments: [ArgumentSpec("NAME", .instance, .optional)],
        options: [.flag("-a", "--all", help: "also the consumed slots still in memory"),
                  .option("--layout", value: ArgumentSpec("ERA|FILE", .text,
                          expected: "needs an era (223163d8, 14213ee5, 00ff7b01, 9d5973eb, newest) or a layout file"),
                          help: "read the rings with this layout")],
        json: ["channels"]
    ) { args, session in
        let only = args.argument("NAME")
        let all = args.has("-a")
        let layoutName = args.value("--layout")
        let collector = ChannelCollector(kernfs: session.kernfs) { inst in
            if let t = session.openTarget(for: inst) { return t }
            return try InstanceOpener.open(inst, kernfs: session.kernfs).target
        }
        let channels = try collector.collect(.init(only: only, includeConsumed: all, layoutName: layoutName))
        let owners = collector.owners
        var blocks: [String] = []
        var json: [JSONValue] = []
        for c in channels {
            blocks.append(text(c, owners: owners))
            json.append(object(c, owners: owners))
        }
        return CommandOutput(text: blocks.joined(separator: "\n"), fields: [("channels", .array(json))])
    }

    static func sender(_ cpu: Int64, _ owners: CpuOwners?) -> String {
        guard let owners else { return "?" }
        return owners.owner(of: cpu).name
    }

    static func layoutLabel(_ l: RingLayout) -> String {
        l.era == "dwarf" ? "from the kernel's DWARF (\(l.source.replacingPrefix("DWARF of ", with: "")))" : "\(l.era) (\(l.source))"
    }

    static func text(_ c: Channel, owners: CpuOwners?) -> String {
        var lines: [String] = []
        var head = "\(c.name):"
        switch c.addressSource {
        case "none":
            head += " no inbox"
        case "unknown":
            head += " inbox address unknown"
        default:
            head += " inbox at \(hex(c.phys ?? 0))" + (c.size.map { " (\(hex($0)) bytes" } ?? " (size unknown") + ", from \(c.addressSource))"
        }
        if let via = c.readThrough { head += ", read through \(via)" + (c.live ? ", live" : "") }
        lines.append(head)
        if let ring = c.ring {
            lines.append("  layout \(layoutLabel(ring.layout))" + (c.layoutReason.map { ": \($0)" } ?? ""))
            var counts = "  head \(ring.head.map(String.init) ?? "?")  tail \(ring.tail.map(String.init) ?? "?")"
            counts += "  pending " + (ring.pendingCount.map(String.init) ?? "unknown")
            let unpublished = ring.slots.filter { $0.state == .pending && !$0.published }.count
            if unpublished > 0 { counts += " (\(unpublished) claimed, not published)" }
            lines.append(counts)
        }
        for n in c.notes + (c.ring?.notes ?? []) { lines.append("  note: \(n)") }
        if let ring = c.ring, !ring.slots.isEmpty {
            var rows: [[String]] = [["SLOT", "SENDER", "TYPE", "SIZE", "STATE", "MESSAGE"]]
            var after: [Int: [String]] = [:]
            for s in ring.slots {
                let state: String
                switch s.state {
                case .pending: state = s.published ? "published" : "claimed"
                case .consumed: state = "consumed"
                case .unknown: state = s.published ? "published?" : "?"
                }
                let typeName = ring.layout.slotType(s.type)?.name ?? hex(UInt64(s.type))
                let message = s.message?.summary ?? "-"
                rows.append([String(s.index), "\(s.senderCpu) (\(sender(s.senderCpu, owners)))", typeName,
                             String(s.dataSize), state, message])
                if !s.problems.isEmpty { after[rows.count - 1] = s.problems }
            }
            let rendered = table(rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (i, line) in rendered.enumerated() {
                lines.append("  " + line)
                for p in after[i] ?? [] { lines.append("        ! \(p)") }
            }
        }
        let problems = c.allProblems
        if !problems.isEmpty {
            lines.append("  problems:")
            lines += problems.map { "    ! \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    static func object(_ c: Channel, owners: CpuOwners?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("name", .string(c.name)), ("id", c.id.map { .int(Int64($0)) } ?? .null),
            ("phys", c.phys.map(jsonAddress) ?? .null), ("size", c.size.map { .uint($0) } ?? .null),
            ("source", .string(c.addressSource)), ("read_through", c.readThrough.map { .string($0) } ?? .null),
            ("live", .bool(c.live))]
        let ring = c.ring
        fields.append(("layout", ring.map { .object([("era", .string($0.layout.era)), ("source", .string($0.layout.source)),
                                                     ("reason", c.layoutReason.map { .string($0) } ?? .null)]) } ?? .null))
        fields.append(("head", ring?.head.map { .int($0) } ?? .null))
        fields.append(("tail", ring?.tail.map { .int($0) } ?? .null))
        fields.append(("pending", ring?.pendingCount.map { .int(Int64($0)) } ?? .null))
        var problems = c.allProblems
        for s in ring?.slots ?? [] { problems += s.problems.map { "slot \(s.index): \($0)" } }
        fields.append(("problems", .array(problems.map { .string($0) })))
        fields.append(("notes", .array((c.notes + (ring?.notes ?? [])).map { .string($0) })))
        if let ring {
            fields.append(("force_halt", ring.forceHalt.map { .int($0) } ?? .null))
            fields.append(("parked", .array(ring.parked.map { .int(Int64($0)) })))
        }
        let slots: [JSONValue] = (ring?.slots ?? []).map { s in
            .object([("index", .int(Int64(s.index))), ("state", .string(s.state.rawValue)),
                     ("sender_cpu", .int(s.senderCpu)), ("sender", owners.map { .string($0.owner(of: s.senderCpu).name) } ?? .null),
                     ("type", .uint(s.type)), ("type_name", ring?.layout.slotType(s.type).map { .string($0.name) } ?? .null),
                     ("data_size", .uint(s.dataSize)), ("published", .bool(s.published)), ("consumed", .bool(s.consumed)),
                     ("message", s.message.map { json($0.value) } ?? .null),
                     ("problems", .array(s.problems.map { .string($0) }))])
        }
        fields.append(("slots", .array(slots)))
        return .object(fields)
    }

    static func json(_ v: MessageValue) -> JSONValue {
        switch v {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .uint(u): return .uint(u)
        case let .string(s): return .string(s)
        case let .object(o): return .object(o.map { ($0.0, json($0.1)) })
        }
    }
}

extension Session {
    /// A target this session already has open on `instance` (the current
    /// one or a saved one), so `channels` does not open it again.
    func openTarget(for instance: Instance) -> Target? {
        if let current = currentInstance, current.directory == instance.directory, let target { return target }
        return contexts.first { $0.instance?.directory == instance.directory }?.target
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with other: String) -> String {
        hasPrefix(prefix) ? other + dropFirst(prefix.count) : self
    }
}
