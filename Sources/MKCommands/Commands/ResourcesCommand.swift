import MKFormat
import MKMultikernel

enum ResourcesCommand {
    static let spec = CommandSpec(
        name: "resources", group: "multikernel",
        summary: "the pool and each instance's CPUs, memory regions, devices; conflicts flagged",
        usage: "resources [NAME]",
        examples: ["resources", "resources web"],
        arguments: [ArgumentSpec("NAME", .instance, .optional)],
        json: ["pool", "instances", "problems"]
    ) { args, session in
        let report = try ResourceReport.collect(session.kernfs)
        let only = args.argument("NAME")
        if let only, !report.instances.contains(where: { $0.name == only }) {
            throw MultikernelError.unknownInstance(only, known: report.instances.map { $0.name })
        }
        var lines: [String] = []
        var fields: [(String, JSONValue)] = []
        if only == nil, let pool = report.pool {
            lines.append("pool:")
            lines.append("  cpus            \(InstanceCommands.formatCpus(pool.cpus))")
            lines.append("  cpus available  \(InstanceCommands.formatCpus(pool.cpusAvailable))")
            for m in pool.memory { lines.append("  memory          \(hex(m.start))-\(hex(m.end)) \(formatSize(m.size))") }
            for b in pool.buffers { lines.append("  buffer          \(hex(b.region.start))-\(hex(b.region.end)) \(formatSize(b.region.size)) \(b.name)") }
            for d in pool.devices { lines.append("  device          \(d.name) \(d.kind) \(d.detail)") }
            fields.append(("pool", .object([
                ("cpus", .array(pool.cpus.map { .uint($0) })), ("cpus_available", .array(pool.cpusAvailable.map { .uint($0) })),
                ("memory", .array(pool.memory.map { .object([("start", jsonAddress($0.start)), ("size", .uint($0.size))]) })),
                ("buffers", .array(pool.buffers.map { .object([("name", .string($0.name)), ("start", jsonAddress($0.region.start)), ("size", .uint($0.region.size))]) })),
                ("devices", .array(pool.devices.map { .object([("name", .string($0.name)), ("type", .string($0.kind)), ("detail", .string($0.detail))]) }))])))
        }
        var instancesJSON: [JSONValue] = []
        for i in report.instances where only == nil || i.name == only {
            lines.append("\(i.name) (id \(i.id.map(String.init) ?? "?"), \(i.status.rawValue)):")
            lines.append("  cpus            \(InstanceCommands.formatCpus(i.cpus))")
            for r in i.regions {
                lines.append("  memory          \(hex(r.start))-\(hex(r.end)) \(formatSize(r.size))" + (i.regionsFromIomem ? "" : " (device tree: first base and total only)"))
            }
            for d in i.devices { lines.append("  device          \(d.name) \(d.kind) \(d.detail)") }
            for (alias, path) in i.aliases { lines.append("  alias           \(alias) -> \(path)") }
            instancesJSON.append(.object([
                ("name", .string(i.name)), ("id", i.id.map { .int(Int64($0)) } ?? .null), ("status", .string(i.status.rawValue)),
                ("cpus", .array(i.cpus.map { .uint($0) })),
                ("memory", .array(i.regions.map { .object([("start", jsonAddress($0.start)), ("size", .uint($0.size))]) })),
                ("memory_source", .string(i.regionsFromIomem ? "iomem" : "device-tree")),
                ("devices", .array(i.devices.map { .object([("name", .string($0.name)), ("type", .string($0.kind)), ("detail", .string($0.detail))]) })),
                ("aliases", .object(i.aliases.map { ($0.0, .string($0.1)) }))]))
        }
        fields.append(("instances", .array(instancesJSON)))
        let problems = only == nil ? report.problems : report.problems.filter { $0.contains(only ?? "") }
        if !problems.isEmpty {
            lines.append("problems:")
            lines += problems.map { "  ! \($0)" }
        }
        fields.append(("problems", .array(problems.map { .string($0) })))
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }
}
