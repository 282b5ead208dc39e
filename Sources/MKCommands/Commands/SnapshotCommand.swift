import MKFormat
import MKDebugInfo
import MKMultikernel

/// `snapshot [NAME] FILE`: freeze an instance, save its memory as a
/// standard vmcore (with the registers the freeze captured), thaw it.
/// This is how a live spawn kernel becomes post-mortem evidence.
enum SnapshotCommand {
    static let usage = "snapshot [NAME] FILE"

    static let spec = CommandSpec(
        name: "snapshot", group: "multikernel",
        summary: "freeze an instance, save it as an ELF vmcore, thaw it",
        usage: usage,
        examples: ["snapshot web /tmp/web.vmcore", "snapshot /tmp/current.vmcore"],
        arguments: [ArgumentSpec("NAME", .instance, .optional), .file("FILE", expected: "[NAME] FILE")],
        json: ["instance", "file", "froze"] + SaveCommand.json.filter { $0 != "file" }, excess: "expected [NAME] FILE"
    ) { args, session in
        let file = args.argument("FILE") ?? ""
        let inst = try session.instanceArgument(args.argument("NAME"), command: "snapshot")
        guard inst.status.hasKernel else { throw MultikernelError.noKernel(inst.name, status: inst.status.rawValue) }
        var froze = false
        if inst.status == .active && inst.isFrozen != true {
            guard inst.canFreeze else {
                throw MultikernelError.missingFile(inst.freezePath, purpose: "freezing, which a consistent snapshot needs")
            }
            froze = try FreezeGuard.shared.freeze(inst) == .frozen
        }
        // Thaw on every path out, as the guard would at exit anyway.
        defer {
            if froze { try? FreezeGuard.shared.thaw(inst) }
            session.refreshLiveness()
        }
        // Reopen while frozen: the kcore carries the CPUs' registers only now.
        let opened = try InstanceOpener.open(inst, kernfs: session.kernfs)
        let scratch = Session(target: opened.target)
        let saved = try scratch.execute("save vmcore \(file)")
        let text = "\(inst.name): " + (froze ? "frozen; " : "") + saved.text + (froze ? "\n\(inst.name): thawed" : "")
        return CommandOutput(text: text, fields: [("instance", .string(inst.name)), ("file", .string(file)),
                                                  ("froze", .bool(froze))] + saved.fields.filter { $0.0 != "file" })
    }
}
