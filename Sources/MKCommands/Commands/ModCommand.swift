import MKFormat
import MKDebugInfo
import MKKernel

enum ModCommand {
    static let usage = "mod [-s NAME]"

    static let spec = CommandSpec(
        name: "mod", group: "kernel",
        summary: "list loaded modules (struct module, name, base, size); -s finds a module's debug file",
        usage: usage, details: """

        BASE is the start of the module's core text, SIZE its core memory (text, rodata, data).
        -s NAME looks for NAME's debug file in the symbol store: by the loaded module's build-id
        (.build-id/xx/....debug), then modules/<release>/NAME.ko, then anywhere under
        modules/<release>/ or lib/modules/<release>/ (symbols/README.md), and loads its DWARF
        (libdwfl applies the .ko's relocations): bt then shows the module's frames with their
        file:line and inlined functions, and info line FUNC works on its functions.
        """,
        examples: ["mod", "mod -s pvpanic"],
        options: [.option("-s", value: ArgumentSpec("NAME", .text, expected: "expects a value"), help: "find and load the module's debug file")],
        json: ["modules", "warnings", "name", "module", "base", "build_id", "path", "file_build_id", "dwarf", "dwarf_loaded",
               "rejected", "symbols"]
    ) { args, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        let list = try kernel.modules(budget: budget)
        let w = KernelCommandSupport.warnings("mod", list.warnings.map(\.description), budget: budget)

        if let name = args.value("-s") {
            guard let m = list.modules.first(where: { $0.name == name || $0.name == name.replacingDashes }) else {
                throw CommandError.unknownName(name, message: "mod: no module \(name) is loaded" +
                    (list.modules.isEmpty ? "" : " (loaded: \(list.modules.map(\.name).joined(separator: ", ")))"))
            }
            let target = try session.requireTarget()
            let release = target.image.vmcoreInfo?.osRelease
            let store = SymbolStore.standard()
            let (file, rejected) = store.findModule(name: m.name, release: release, buildId: m.buildId)
            var fields: [(String, JSONValue)] = [("name", .string(m.name)), ("module", jsonAddress(m.address)),
                                                 ("base", jsonAddress(m.base)),
                                                 ("build_id", m.buildId.map { .string($0) } ?? .null)]
            guard let file else {
                var lines = ["mod: no debug file for module \(m.name) in the symbol store" +
                             (m.buildId.map { " (build-id \($0))" } ?? "")]
                lines.append("searched: \(store.roots.joined(separator: ", "))")
                lines.append("  for .build-id/xx/....debug, modules/\(release ?? "RELEASE")/\(m.name).ko, and under modules/ and lib/modules/\(release ?? "RELEASE")/")
                lines += rejected.map { "rejected \($0)" }
                throw CommandError.unknownName(m.name, message: lines.joined(separator: "\n"))
            }
            var dwarfLine = file.hasDWARF ? "DWARF present, \(file.symbolCount) symbols" : "no DWARF (.debug_info) in it; \(file.symbolCount) symbols"
            var loaded = false
            if file.hasDWARF {
                switch file.dwarf {
                case .success:
                    loaded = true
                    dwarfLine = "DWARF loaded (relocated by libdwfl), \(file.symbolCount) symbols"
                case let .failure(error):
                    dwarfLine = "DWARF present but unusable: \(error); \(file.symbolCount) symbols"
                }
            }
            session.moduleDebugFiles[m.name] = file
            let text = (["module \(m.name) at \(hexDigits(m.address)), base \(hexDigits(m.base))",
                        "debug file \(file.path)",
                        "build-id \(file.buildId ?? "none")" + (m.buildId == nil ? " (the loaded module's is not known)" :
                                                                 " (matches the loaded module)"),
                        dwarfLine,
                        loaded ? "bt shows file:line for \(m.name)'s frames; info line works on its functions (expressions do not use module symbols yet)"
                               : "bt and info line cannot use it"]
                        + rejected.map { "skipped \($0)" }).joined(separator: "\n")
            fields += [("path", .string(file.path)), ("file_build_id", file.buildId.map { .string($0) } ?? .null),
                       ("dwarf", .bool(file.hasDWARF)), ("dwarf_loaded", .bool(loaded)),
                       ("rejected", .array(rejected.map { .string($0) })), ("symbols", .int(Int64(file.symbolCount)))]
            return CommandOutput(text: KernelCommandSupport.join(text, w.text), fields: fields + [("warnings", w.json)])
        }

        let width = max(4, list.modules.map(\.name.count).max() ?? 4)
        var lines = ["MODULE            " + "NAME".padding(width + 1) + " BASE              SIZE    STATE   BUILD-ID"]
        for m in list.modules {
            lines.append(hexDigits(m.address) + "  " + m.name.padding(width + 1) + " " + hexDigits(m.base) + "  " +
                         String(m.size).padding(7) + " " + (m.state ?? "?").padding(7) + " " + (m.buildId ?? "-"))
        }
        let json: [JSONValue] = list.modules.map { m in
            .object([("name", .string(m.name)), ("module", jsonAddress(m.address)), ("base", jsonAddress(m.base)),
                     ("size", .uint(m.size)), ("text_size", m.textSize.map { .uint($0) } ?? .null),
                     ("state", m.state.map { .string($0) } ?? .null), ("build_id", m.buildId.map { .string($0) } ?? .null)])
        }
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("modules", .array(json)), ("warnings", w.json)])
    }
}

extension String {
    fileprivate var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}
