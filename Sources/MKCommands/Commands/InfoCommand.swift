import MKFormat
import MKMemory
import MKDebugInfo
#if canImport(Glibc)
import Glibc
#endif


enum InfoCommand {
    static let spec = CommandSpec(
        name: "info", aliases: ["i"], group: "target",
        summary: "describe the target (image, VMCOREINFO, debug info) and where symbols are",
        examples: ["info image", "info vmcoreinfo", "info symbol 0xffffffff81000000", "info address init_task", "info line schedule"],
        subcommands: [imageSpec, vmcoreinfoSpec, debuginfoSpec, symbolSpec, addressSpec, lineSpec,
                      InfoRegistersCommand.spec, InfoFrameCommand.spec,
                      InfoFrameVariablesCommand.argsSpec, InfoFrameVariablesCommand.localsSpec,
                      InfoFunctionsCommand.spec, InfoVariablesCommand.spec, InfoTypesCommand.spec]
    )

    static let imageSpec = CommandSpec(
        name: "image", summary: "the image's format, memory ranges and holes, notes, VMCOREINFO, vmlinux match, problems",
        usage: "info image", examples: ["info image"],
        json: ["image", "format", "facts", "architecture", "release", "build_id", "page_size", "vmlinux", "vmlinux_matches", "symbols", "types", "kaslr_offset",
               "phys_base", "page_table_levels", "page_offset_base", "physical_ranges", "notes", "vmcoreinfo_keys", "problems"]
    ) { _, session in
        image(try session.requireTarget())
    }

    static let vmcoreinfoSpec = CommandSpec(
        name: "vmcoreinfo", summary: "the VMCOREINFO note's KEY=VALUE lines", usage: "info vmcoreinfo",
        examples: ["info vmcoreinfo"], json: ["entries"]
    ) { _, session in
        let target = try session.requireTarget()
        guard let info = target.image.vmcoreInfo else {
            throw CommandError.targetState("\(target.image.path): no VMCOREINFO note")
        }
        return CommandOutput(text: info.entries.map { "\($0.key)=\($0.value)" }.joined(separator: "\n"),
                             fields: [("entries", .object(info.entries.map { ($0.key, .string($0.value)) }))])
    }

    static let debuginfoSpec = CommandSpec(
        name: "debuginfo", summary: "the vmlinux's DWARF name index (or the BTF in use without one): size, built or loaded, load time", usage: "info debuginfo",
        examples: ["info debuginfo"], json: ["vmlinux", "build_id", "names", "index", "load_ms"]
    ) { _, session in
        let target = try session.requireTarget()
        let clock = Stopwatch()
        guard target.vmlinux != nil else {
            // No DWARF: say what stands in for it.
            let types = try target.requireTypes()
            _ = try? session.kernel()  // the helpers derive what kallsyms lacks, and read the modules' BTF
            let t = clock.seconds
            let count = (types as? BtfTypes)?.file.typeCount ?? 0
            let modules = (types as? BtfTypes)?.modules()
            let unwinder = target.image.elfMachine == 183 ? "frame records" : "ORC from memory"
            var derived = target.symbols?.derived.keys.filter { !($0.hasPrefix("__per_cpu") ) } ?? []
            if let symbols = target.symbols, derived.count > 12 {
                derived = derived.filter { symbols.derived[$0]?.how.hasPrefix("offset in BTF") != true } + ["per-CPU variables"]
            }
            var lines: [String] = ["vmlinux           none (\(target.symbolProblem ?? "not found"))",
                                   "types             \(types.typeSourceName)"]
            if let m = modules, !m.problems.isEmpty { lines.append("module types      " + m.problems.joined(separator: "; ")) }
            if !derived.isEmpty {
                lines.append("derived symbols   " + derived.sorted().joined(separator: ", ") + " (not in kallsyms: from VMCOREINFO or found in memory and checked)")
            }
            lines.append("missing           source lines, locals, DWARF CFI (backtraces use \(unwinder))")
            lines.append("load time         \(Int(t * 1000)) ms")
            return CommandOutput(text: lines.joined(separator: "\n"),
                                 fields: [("vmlinux", .null), ("build_id", target.image.vmcoreInfo?.buildId.map { .string($0) } ?? .null),
                                          ("names", .int(Int64(count))), ("index", .string(types.typeSourceName)),
                                          ("load_ms", .int(Int64(t * 1000)))])
        }
        let d = try target.requireDebugInfo()
        let t = clock.seconds
        return CommandOutput(text: ["vmlinux           \(d.vmlinux.path)",
                                    "index             \(d.index.count) names (\(d.indexSource))",
                                    "load time         \(Int(t * 1000)) ms"].joined(separator: "\n"),
                             fields: [("vmlinux", .string(d.vmlinux.path)), ("build_id", d.vmlinux.buildId.map { .string($0) } ?? .null),
                                      ("names", .int(Int64(d.index.count))), ("index", .string(d.indexSource)),
                                      ("load_ms", .int(Int64(t * 1000)))])
    }

    static let symbolSpec = CommandSpec(
        name: "symbol", summary: "the symbol an address is in, and its section", usage: "info symbol ADDR",
        examples: ["info symbol 0xffffffff81000000", "info symbol schedule+4"],
        arguments: [ArgumentSpec("ADDR", .symbol, .many, expected: "an address")], json: ["output"]
    ) { args, session in
        .text(try InfoSymbolCommands.symbol(args.argument("ADDR") ?? "", session))
    }

    static let addressSpec = CommandSpec(
        name: "address", summary: "where a variable, function or enumerator is", usage: "info address NAME",
        examples: ["info address init_task"],
        arguments: [ArgumentSpec("NAME", .symbol, expected: "one name")], json: ["output"], excess: "expected one name"
    ) { args, session in
        .text(try InfoSymbolCommands.address(args.argument("NAME") ?? "", session))
    }

    static let lineSpec = CommandSpec(
        name: "line", summary: "the source line of a function, or of an address (with the inline chain)",
        usage: "info line FUNC|ADDR", examples: ["info line schedule", "info line schedule+0x10"],
        arguments: [ArgumentSpec("FUNC|ADDR", .symbol, .many, expected: "a function or an address")], json: ["output"]
    ) { args, session in
        .text(try InfoSymbolCommands.line(args.argument("FUNC|ADDR") ?? "", session))
    }

    static func image(_ target: Target) -> CommandOutput {
        let image = target.image
        var out: [String] = []
        func fact(_ k: String, _ v: String) { out.append(k.padding(18) + v) }
        let report = image.report()
        fact("image", image.path)
        for (k, v) in report.facts where k != "release" { fact(k, v) }
        let architecture = image.elfMachine.map { ElfMachine.name($0) ?? ElfMachine.describe($0) } ?? "x86-64 (the image does not say)"
        fact("architecture", architecture)

        var problems = report.problems
        let info = image.vmcoreInfo
        if let info {
            fact("release", info.osRelease ?? "(none)")
            fact("build-id", info.buildId ?? "(none)")
            fact("page size", info.pageSize.map { "\($0) bytes" } ?? (info["PAGESIZE"].map { "invalid (PAGESIZE=\($0))" } ?? "unknown (no PAGESIZE)"))
            problems += info.missingKeys(KernelAddressLayouts.vmcoreInfoKeys(machine: image.elfMachine)).map { "VMCOREINFO lacks \($0)" }
            problems += info.valueProblems
            problems += info.malformedLines.map { "VMCOREINFO line is not KEY=VALUE: \($0)" }
        }
        if let v = target.vmlinux {
            let match = target.symbolProblem == nil ? "matches" : "MISMATCH"
            fact("vmlinux", "\(v.path) (\(match); build-id \(v.buildId ?? "none"))")
        } else {
            fact("vmlinux", "none")
        }
        switch target.symbolSource {
        case let .vmlinux(path): fact("symbols", "the vmlinux's ELF symbol table (\(path))")
        case let .kallsyms(count): fact("symbols", "the kernel's kallsyms in memory (\(count) symbols)")
        case .none: fact("symbols", "none")
        }
        var typeSource: String?
        if let v = target.vmlinux {
            // A first start answers from BTF until the DWARF index is built (BtfFirstTypes).
            if let first = (try? target.requireTypes()) as? BtfFirstTypes, !first.dwarf.hasIndex {
                typeSource = "btf"
                fact("types", first.typeSourceName)
            } else {
                typeSource = "dwarf"
                fact("types", "DWARF from \(v.path)")
            }
        } else if target.symbols != nil {
            do {
                fact("types", try target.requireTypes().typeSourceName)
                fact("unwind", "ORC from memory")
                fact("missing", "source lines, locals, DWARF CFI (the vmlinux's)")
                typeSource = "btf"
            } catch {
                fact("types", "none: \(error)")
            }
        }
        if let p = target.symbolProblem { problems.append(p) }
        // The architecture's layout says what it has (x86-64: phys_base, 4- or 5-level tables).
        for (name, value) in target.memory.addressLayout?.facts ?? [] { fact(name, value) }

        let ranges = image.physicalRanges
        let total = ranges.reduce(UInt64(0)) { $0 &+ $1.size }
        out.append("physical memory: \(ranges.count) range\(ranges.count == 1 ? "" : "s"), \(formatSize(total))")
        var previousEnd: UInt64?
        for r in ranges {
            if let e = previousEnd, r.start > e {
                out.append("  hole     \(hex(e))-\(hex(r.start)) \(formatSize(r.start - e))")
            }
            out.append("  present  \(hex(r.start))-\(hex(r.end)) \(formatSize(r.size))")
            previousEnd = r.end
        }
        if !image.virtualRanges.isEmpty {
            out.append("virtual segments: \(image.virtualRanges.count)")
            for v in image.virtualRanges {
                out.append("  \(hex(v.start))-\(hex(v.start &+ v.size)) \(formatSize(v.size))" + (v.physicalStart.map { " phys \(hex($0))" } ?? ""))
            }
        }

        var counts: [(String, Int)] = []
        for n in image.notes {
            let key = "\(n.name)/\(noteTypeName(n))"
            if let i = counts.firstIndex(where: { $0.0 == key }) { counts[i].1 += 1 } else { counts.append((key, 1)) }
        }
        out.append("notes: " + (counts.isEmpty ? "none" : counts.map { "\($0.0)×\($0.1)" }.joined(separator: ", ")))
        if let info {
            out.append("VMCOREINFO: \(info.entries.count) keys")
            out.append(wrap(info.entries.map { $0.key }, indent: "  ", width: 100))
        }
        if problems.isEmpty {
            out.append("problems: none")
        } else {
            out.append("problems: \(problems.count)")
            out += problems.map { "  ! \($0)" }
        }
        var fields: [(String, JSONValue)] = [("image", .string(image.path)), ("format", .string(image.formatName))]
        fields.append(("facts", .object(report.facts.map { ($0.0, .string($0.1)) })))
        fields.append(("architecture", .string(image.elfMachine.map { ElfMachine.name($0) ?? ElfMachine.describe($0) } ?? "x86-64")))
        fields.append(("release", info?.osRelease.map { .string($0) } ?? .null))
        fields.append(("build_id", info?.buildId.map { .string($0) } ?? .null))
        fields.append(("page_size", info?.pageSize.map { .uint($0) } ?? .null))
        fields.append(("vmlinux", target.vmlinux.map { .string($0.path) } ?? .null))
        fields.append(("vmlinux_matches", .bool(target.vmlinux != nil && target.symbolProblem == nil)))
        switch target.symbolSource {
        case .vmlinux: fields.append(("symbols", .string("vmlinux")))
        case .kallsyms: fields.append(("symbols", .string("kallsyms")))
        case .none: fields.append(("symbols", .null))
        }
        fields.append(("types", typeSource.map { .string($0) } ?? .null))
        if let layout = target.memory.addressLayout {
            fields.append(("kaslr_offset", jsonAddress(layout.kaslrOffset)))
            fields.append(("phys_base", layout.physicalLoadOffset.map { .int($0) } ?? .null))
            fields.append(("page_table_levels", .int(Int64(layout.pageTableLevels))))
            fields.append(("page_offset_base", layout.directMapBase.map(jsonAddress) ?? .null))
        }
        fields.append(("physical_ranges", .array(ranges.map { .object([("start", jsonAddress($0.start)), ("end", jsonAddress($0.end))]) })))
        fields.append(("notes", .array(image.notes.map { .object([("name", .string($0.name)), ("type", .uint(UInt64($0.type))), ("size", .int(Int64($0.descriptor.count)))]) })))
        fields.append(("vmcoreinfo_keys", .array((info?.entries ?? []).map { .string($0.key) })))
        fields.append(("problems", .array(problems.map { .string($0) })))
        return CommandOutput(text: out.joined(separator: "\n"), fields: fields)
    }

    static func noteTypeName(_ n: ElfNote) -> String {
        switch (n.name, n.type) {
        case ("CORE", 1): return "PRSTATUS"
        case ("CORE", 3): return "PRPSINFO"
        case ("VMCOREINFO", _): return "text"
        default: return "type \(n.type)"
        }
    }

    static func wrap(_ words: [String], indent: String, width: Int) -> String {
        var lines: [String] = []
        var line = indent
        for w in words {
            if line.count + w.count + 1 > width && line != indent {
                lines.append(line)
                line = indent
            }
            line += (line == indent ? "" : " ") + w
        }
        if line != indent { lines.append(line) }
        return lines.joined(separator: "\n")
    }
}

func formatSize(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(bytes)
    var i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    if i == 0 { return "\(bytes) B" }
    let rounded = (v * 10).rounded() / 10
    return (rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)) + " " + units[i]
}
