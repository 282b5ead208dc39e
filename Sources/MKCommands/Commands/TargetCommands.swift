import MKFormat
import MKDebugInfo
import MKMultikernel

/// `targets`, `target NAME`, `open IMAGE [-s VMLINUX] [as NAME]`: a session
/// holds several kernels at once.
enum TargetCommands {
    static let targets = CommandSpec(
        name: "targets", group: "sessions",
        summary: "list the open targets (instances and image files); * marks the current one",
        usage: "targets",
        examples: ["targets"],
        json: ["targets"]
    ) { _, session in
        var rows: [[String]] = [["", "NAME", "KIND", "RELEASE", "STATE", "SOURCE"]]
        var json: [JSONValue] = []
        for context in session.contexts {
            let name = context.name, target = context.target, live = context.isLive
            let current = name == session.currentName
            let kind = context.instance == nil ? "image" : "instance"
            let release = target.image.vmcoreInfo?.osRelease ?? "?"
            let state = context.state
            rows.append([current ? "*" : "", name, kind, release, state, target.image.path])
            json.append(.object([("name", .string(name)), ("current", .bool(current)), ("kind", .string(kind)),
                                 ("release", .string(release)), ("live", .bool(live)), ("source", .string(target.image.path)),
                                 ("build_id", target.vmlinux?.buildId.map { .string($0) } ?? .null)]))
        }
        if json.isEmpty { return CommandOutput(text: "no targets: open one with open IMAGE or instance NAME", fields: [("targets", .array([]))]) }
        return CommandOutput(text: table(rows), fields: [("targets", .array(json))])
    }

    static let target = CommandSpec(
        name: "target", group: "sessions",
        summary: "make an open target (or an instance, opening it) the current one",
        usage: "target NAME",
        examples: ["target web", "target snapshot"],
        arguments: [ArgumentSpec("NAME", .target, expected: "a target name")],
        json: ["target", "live"], excess: "expected a target name"
    ) { args, session in
        let name = args.argument("NAME") ?? ""
        if session.targetNames.contains(name) {
            try session.switchTo(name)
        } else {
            let inst = try session.kernfs.instance(name)
            let opened = try InstanceOpener.open(inst, kernfs: session.kernfs)
            session.use(opened.target, instance: inst, live: inst.status == .active && inst.isFrozen != true)
        }
        return CommandOutput(text: "current target: \(name)", fields: [("target", .string(name)), ("live", .bool(session.isLive))])
    }

    static let open = CommandSpec(
        name: "open", group: "sessions",
        summary: "open a memory image as another target (a snapshot, a vmcore) and make it current",
        usage: "open IMAGE [-s VMLINUX] [as NAME]",
        examples: ["open /tmp/web.vmcore as before", "open vmcore.kdump -s vmlinux"],
        arguments: [.file("IMAGE", expected: "one image")],
        options: [.option("-s", value: .file("VMLINUX", expected: "expects a vmlinux"), help: "the kernel's vmlinux"),
                  .option("as", value: ArgumentSpec("NAME", .text, expected: "expects a name"), help: "the target's name")],
        json: ["target", "image", "format", "release"], excess: "expected one image"
    ) { args, session in
        let name = args.value("as")
        let vmlinux = args.value("-s")
        let path = args.argument("IMAGE") ?? ""
        let target = try Target(imagePath: path, options: .init(vmlinuxPath: vmlinux))
        var key = name ?? Session.defaultName(for: path)
        if name == nil {
            var n = 2
            let base = key
            while session.targetNames.contains(key) { key = "\(base)-\(n)"; n += 1 }
        }
        session.use(target, instance: nil, live: false, name: key)
        var text = "opened \(path) as \(key): \(target.image.formatName), \(target.image.vmcoreInfo?.osRelease ?? "unknown release")"
        if let problem = target.symbolProblem { text += "\nwarning: \(problem)" }
        return CommandOutput(text: text, fields: [("target", .string(key)), ("image", .string(path)),
                                                  ("format", .string(target.image.formatName)),
                                                  ("release", target.image.vmcoreInfo?.osRelease.map { .string($0) } ?? .null)])
    }
}
