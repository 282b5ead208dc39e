import MKDebugInfo

/// gdb's `symbol-file`: a vmlinux found after the target was opened (the
/// debug package installed later, or copied from elsewhere). The target is
/// reopened over the same image with that vmlinux, so symbols, types and
/// unwinding switch from kallsyms, BTF and ORC in memory to the vmlinux's.
enum SymbolFileCommand {
    static let spec = CommandSpec(
        name: "symbol-file", group: "target",
        summary: "use FILE as the current target's vmlinux (its symbols, DWARF types, lines and locals)",
        usage: "symbol-file [-f] FILE", details: """

        FILE must match the image's build-id (VMCOREINFO's BUILD-ID) and release; -f takes it
        anyway, as --ignore-mismatch does. The target keeps its name and image; values already
        in the history keep the types they were printed with.
        """,
        examples: ["symbol-file /usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64"],
        arguments: [.file("FILE", expected: "a vmlinux")],
        options: [.flag("-f", help: "use FILE even when its build-id or release does not match the image")],
        json: ["vmlinux", "build_id", "types", "problem"]
    ) { args, session in
        guard let current = session.current else { throw CommandError.noTarget }
        let path = args.argument("FILE") ?? ""
        let options = Target.Options(vmlinuxPath: path, ignoreMismatch: args.has("-f"))
        let target: Target
        do {
            target = try Target(image: current.target.image, options: options)
        } catch {
            // The mismatch's advice names the command-line flag; here it is -f.
            let text = "\(error)".replacing("--ignore-mismatch", with: "symbol-file -f")
            throw CommandError.failed("symbol-file: " + text, cause: error)
        }
        session.use(target, instance: current.instance, live: current.isLive, name: current.name)
        let buildId = target.vmlinux?.buildId
        var text = "Reading symbols from \(path) (build-id \(buildId ?? "none")): DWARF types, lines and locals for \(current.name)"
        if let p = target.symbolProblem { text += "\nsymbol-file: warning: \(p)" }
        return CommandOutput(text: text, fields: [("vmlinux", .string(path)), ("build_id", buildId.map { .string($0) } ?? .null),
                                                  ("types", .string("dwarf")),
                                                  ("problem", target.symbolProblem.map { .string($0) } ?? .null)])
    }
}
