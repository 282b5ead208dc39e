import MKFormat
import MKDebugInfo
import MKMultikernel

/// `instances`, `instance NAME`, `dt [NAME]`: the multikernel's instances.
enum InstanceCommands {
    static let instances = CommandSpec(
        name: "instances", group: "multikernel",
        summary: "list the instances: id, status, frozen, CPUs, memory, devices, architecture, loaded kernel",
        usage: "instances",
        examples: ["instances"],
        json: ["root", "instances"]
    ) { _, session in
        let kernfs = session.kernfs
        let list = try kernfs.instances()
        let report = try? ResourceReport.collect(kernfs)
        let kimages = (try? kernfs.kimages()) ?? []
        var rows: [[String]] = [["NAME", "ID", "STATUS", "FROZEN", "CPUS", "MEMORY", "DEVICES", "ARCH", "KERNEL"]]
        var json: [JSONValue] = []
        for inst in list {
            let r = report?.instances.first { $0.name == inst.name }
            let id = inst.id
            let frozen = inst.isFrozen.map { $0 ? "yes" : "no" } ?? "-"
            let cpus = r.map { formatCpus($0.cpus) } ?? "-"
            let memory = r.map { formatSize($0.regions.reduce(UInt64(0)) { $0 &+ $1.size }) } ?? "-"
            let devices = r.map { $0.devices.isEmpty ? "-" : $0.devices.map { $0.name.split(separator: "/").last.map(String.init) ?? $0.name }.joined(separator: ",") } ?? "-"
            let kimage = kimages.first { $0.id == id }
            let kernel = kimage.map { "\($0.type) \"\($0.cmdline)\"" } ?? "-"
            let arch = inst.architecture
            let archValue: JSONValue = arch.map { .string($0) } ?? .null
            rows.append([inst.name, id.map(String.init) ?? "?", inst.status.rawValue, frozen, cpus, memory, devices, arch ?? "-", kernel])
            json.append(.object([("name", .string(inst.name)), ("id", id.map { .int(Int64($0)) } ?? .null),
                                 ("status", .string(inst.status.rawValue)), ("frozen", inst.isFrozen.map { .bool($0) } ?? .null),
                                 ("cpus", .array((r?.cpus ?? []).map { .uint($0) })),
                                 ("memory_bytes", .uint(r?.regions.reduce(UInt64(0)) { $0 &+ $1.size } ?? 0)),
                                 ("devices", .array((r?.devices ?? []).map { .string($0.name) })),
                                 ("arch", archValue),
                                 ("kernel_cmdline", kimage.map { .string($0.cmdline) } ?? .null),
                                 ("kcore", .bool(inst.kcorePath != nil)), ("freeze", .bool(inst.canFreeze))]))
        }
        return CommandOutput(text: table(rows), fields: [("root", .string(kernfs.mount)), ("instances", .array(json))])
    }

    static let instance = CommandSpec(
        name: "instance", aliases: ["target-instance"], group: "multikernel",
        summary: "debug a spawn kernel: open it through its kcore (or the host's kcore) and make it current",
        usage: "instance NAME",
        examples: ["instance web"],
        arguments: [ArgumentSpec("NAME", .instance, expected: "an instance name")],
        json: ["instance", "live", "fallback", "image", "release", "notes"], excess: "expected an instance name"
    ) { args, session in
        let name = args.argument("NAME") ?? ""
        let inst = try session.kernfs.instance(name)
        let opened = try InstanceOpener.open(inst, kernfs: session.kernfs)
        let live = inst.status == .active && inst.isFrozen != true
        session.use(opened.target, instance: inst, live: live)
        var lines = opened.notes
        let arch = opened.target.memory.addressLayout.map { " (\($0.architecture))" } ?? ""
        lines.append("instance \(name): \(opened.target.image.vmcoreInfo?.osRelease ?? "unknown release")" + arch
                     + (opened.target.vmlinux.map { ", symbols from \($0.path)" } ?? "; " + (opened.target.symbolProblem ?? "no symbols")))
        if live { lines.append("live: the instance is running; values may change between reads (freeze \(name) to hold it still)") }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [
            ("instance", .string(name)), ("live", .bool(live)), ("fallback", .bool(opened.viaFallback)),
            ("image", .string(opened.target.image.path)), ("release", opened.target.image.vmcoreInfo?.osRelease.map { .string($0) } ?? .null),
            ("notes", .array(opened.notes.map { .string($0) }))])
    }

    static let dt = CommandSpec(
        name: "dt", group: "multikernel",
        summary: "print a device tree as DTS: the pool's, or an instance's",
        usage: "dt [NAME]",
        examples: ["dt", "dt web"],
        arguments: [ArgumentSpec("NAME", .instance, .optional)],
        json: ["dts"]
    ) { args, session in
        let tree: DeviceTree
        if let name = args.argument("NAME") {
            tree = try session.kernfs.instance(name).deviceTree()
        } else {
            tree = try session.kernfs.poolTree()
        }
        return CommandOutput(text: tree.dts, fields: [("dts", .string(tree.dts))])
    }

    static func formatCpus(_ cpus: [UInt64]) -> String {
        guard !cpus.isEmpty else { return "-" }
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(j > i ? "\(cpus[i])-\(cpus[j])" : "\(cpus[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

/// Columns padded to their widest cell.
func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    return rows.map { r in
        r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }.joined(separator: "  ")
    }.joined(separator: "\n")
}
