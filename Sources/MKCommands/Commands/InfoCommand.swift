import MKFormat
import MKMemory
import MKDebugInfo
#if canImport(Glibc)
import Glibc
#endif


enum InfoCommand {
    static let usage = "info image | info vmcoreinfo | info debuginfo | info symbol ADDR | info address NAME | info line FUNC|ADDR"

    static let spec = CommandSpec(
        name: "info", aliases: ["i"], group: "target",
        summary: "describe the target (image, VMCOREINFO, debug info) and where symbols are",
        usage: usage,
        examples: ["info image", "info vmcoreinfo", "info symbol 0xffffffff81000000", "info address init_task", "info line schedule"]
    ) { args, session in
        let target = try session.requireTarget()
        switch args.words.first {
        case "image":
            return image(target)
        case "debuginfo":
            let clock = Stopwatch()
            let d = try target.requireDebugInfo()
            let t = clock.seconds
            return CommandOutput(text: ["vmlinux           \(d.vmlinux.path)",
                                        "index             \(d.index.count) names (\(d.indexSource))",
                                        "load time         \(Int(t * 1000)) ms"].joined(separator: "\n"),
                                 fields: [("vmlinux", .string(d.vmlinux.path)), ("build_id", d.vmlinux.buildId.map { .string($0) } ?? .null),
                                          ("names", .int(Int64(d.index.count))), ("index", .string(d.indexSource)),
                                          ("load_ms", .int(Int64(t * 1000)))])
        case "symbol":
            return .text(try InfoSymbolCommands.symbol(args.words.dropFirst().joined(separator: " "), session))
        case "address":
            guard args.words.count == 2 else { throw CommandError.usage(command: "info address", message: "expected one name", usage: "info address NAME") }
            return .text(try InfoSymbolCommands.address(args.words[1], session))
        case "line":
            return .text(try InfoSymbolCommands.line(args.words.dropFirst().joined(separator: " "), session))
        case "vmcoreinfo":
            guard let info = target.image.vmcoreInfo else {
                throw CommandError.invalid("\(target.image.path): no VMCOREINFO note")
            }
            return CommandOutput(text: info.entries.map { "\($0.key)=\($0.value)" }.joined(separator: "\n"),
                                 fields: [("entries", .object(info.entries.map { ($0.key, .string($0.value)) }))])
        case let other?:
            throw CommandError.usage(command: "info", message: "unknown subcommand \"\(other)\"", usage: usage)
        case nil:
            throw CommandError.usage(command: "info", message: "expected a subcommand", usage: usage)
        }
    }

    static func image(_ target: Target) -> CommandOutput {
        let image = target.image
        var out: [String] = []
        func fact(_ k: String, _ v: String) { out.append(k.padding(18) + v) }
        let report = image.report()
        fact("image", image.path)
        for (k, v) in report.facts where k != "release" { fact(k, v) }

        var problems = report.problems
        let info = image.vmcoreInfo
        if let info {
            fact("release", info.osRelease ?? "(none)")
            fact("build-id", info.buildId ?? "(none)")
            fact("page size", info.pageSize.map { "\($0) bytes" } ?? (info["PAGESIZE"].map { "invalid (PAGESIZE=\($0))" } ?? "unknown (no PAGESIZE)"))
            problems += info.missingRequiredKeys.map { "VMCOREINFO lacks \($0)" }
            problems += info.valueProblems
            problems += info.malformedLines.map { "VMCOREINFO line is not KEY=VALUE: \($0)" }
        }
        if let v = target.vmlinux {
            let match = target.symbolProblem == nil ? "matches" : "MISMATCH"
            fact("vmlinux", "\(v.path) (\(match); build-id \(v.buildId ?? "none"))")
        } else {
            fact("vmlinux", "none")
        }
        if let p = target.symbolProblem { problems.append(p) }
        if let layout = target.memory.layout {
            fact("KASLR offset", hex(layout.kaslrOffset))
            fact("phys_base", layout.physBase < 0 ? "-" + hex(UInt64(-layout.physBase)) : hex(UInt64(layout.physBase)))
            fact("page tables", "\(layout.levels)-level, top table at physical \(hex(layout.topLevelTable))")
            fact("direct map", layout.pageOffsetBase.map { "page_offset_base \(hex($0))" } ?? "unknown")
        }

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
        fields.append(("release", info?.osRelease.map { .string($0) } ?? .null))
        fields.append(("build_id", info?.buildId.map { .string($0) } ?? .null))
        fields.append(("page_size", info?.pageSize.map { .uint($0) } ?? .null))
        fields.append(("vmlinux", target.vmlinux.map { .string($0.path) } ?? .null))
        fields.append(("vmlinux_matches", .bool(target.vmlinux != nil && target.symbolProblem == nil)))
        if let layout = target.memory.layout {
            fields.append(("kaslr_offset", jsonAddress(layout.kaslrOffset)))
            fields.append(("phys_base", .int(layout.physBase)))
            fields.append(("page_table_levels", .int(Int64(layout.levels))))
            fields.append(("page_offset_base", layout.pageOffsetBase.map(jsonAddress) ?? .null))
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
