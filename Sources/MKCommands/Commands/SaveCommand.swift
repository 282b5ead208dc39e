#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKMemory
import MKDebugInfo

/// `save vmcore`: the target's physical memory, notes and VMCOREINFO as a
/// standard ELF vmcore (`ElfCoreWriter`), from any image mkdbg reads: ELF,
/// kdump-compressed, flattened. Written atomically and sparse.
enum SaveCommand {
    static let usage = "save vmcore FILE [--physical START-END|START+SIZE ...]"
    /// Largest amount of memory one save reads (the file is sparse, but
    /// every byte is read): far above real machines, below corrupt headers.
    static let maxSize: UInt64 = 16 << 40

    static let spec = CommandSpec(
        name: "save", group: "memory",
        summary: "save the target as an ELF vmcore (all of its physical memory, or some ranges)",
        usage: usage,
        examples: ["save vmcore /tmp/saved.elf", "save vmcore low.elf --physical 0-0x1000000",
                   "save vmcore part.elf --physical 0x1000000-0x2000000 --physical 0x3000000+0x100000"],
        arguments: [ArgumentSpec("WHAT", .words(["vmcore"]), .optional, expected: "what to save (vmcore)"), ArgumentSpec("ARGS", .text, .many)],
        subcommands: [vmcore], repeats: false
    ) { args, _ in
        // Nothing matched `vmcore`.
        guard let what = args.argument("WHAT") else {
            throw CommandError.usage(command: "save", message: "expected what to save (vmcore)", usage: usage)
        }
        throw CommandError.usage(command: "save", message: "cannot save \"\(what)\"; mkdbg saves a vmcore", usage: usage)
    }

    static let json = ["file", "source", "source_format", "segments", "notes", "memory_bytes", "file_size", "disk_bytes",
                       "pages_written", "zero_pages", "seconds", "warnings"]

    static let vmcore = CommandSpec(
        name: "vmcore", summary: "the target's physical memory, notes and VMCOREINFO as an ELF vmcore, written atomically and sparse",
        examples: ["save vmcore /tmp/saved.elf", "save vmcore low.elf --physical 0-0x1000000"],
        arguments: [.file("FILE")],
        options: [.option("--physical", "-p", value: ArgumentSpec("RANGE", .text, expected: "expects START-END"),
                          help: "only these physical ranges: START-END or START+SIZE", repeatable: true, greedy: true)],
        json: json, repeats: false
    ) { args, session in
        let requested = try args.values("--physical").map(range)
        let file = args.argument("FILE") ?? ""
        let target = try session.requireTarget()
        let image = target.image
        let loads = try selectRanges(image: image, requested: requested)
        let total = loads.reduce(UInt64(0)) { $0 + $1.size }
        guard total <= maxSize else {
            throw CommandError.outOfRange(value: total, minimum: nil, maximum: maxSize, message: "save vmcore: \(sizeText(total)) of physical memory is more than the \(sizeText(maxSize)) mkdbg saves")
        }

        var warnings: [String] = []
        let notes = image.notes
        if !notes.contains(where: { $0.name == "VMCOREINFO" }) {
            warnings.append("the image has no VMCOREINFO note: readers will need the vmlinux to find their way")
        }
        let writer: ElfCoreWriter
        do {
            writer = try ElfCoreWriter(notes: notes, loads: loads, machine: image.elfMachine)
        } catch {
            throw CommandError.failed("save vmcore: \(error)", cause: error)
        }

        let clock = Stopwatch()
        let out = try AtomicOutputFile(path: file, command: "save vmcore")
        let progress = ProgressBar(label: "save vmcore", total: total)
        let result: ElfCoreWriter.Result
        do {
            result = try writer.write(to: out, readPhysical: { address, buffer in
                do {
                    try image.readPhysical(address, into: buffer)
                } catch let e as MemoryError {
                    throw CommandError.failed("save vmcore: \(e.unreadable(space: "physical")); nothing written to \(file)", cause: e)
                }
            }, progress: { progress?.update($0) })
            progress?.finish()
            try out.commit()
        } catch {
            progress?.finish()
            out.discard()
            if let e = error as? CommandError { throw e }
            throw CommandError.failed("save vmcore: \(error); nothing written to \(file)", cause: error)
        }
        let seconds = clock.seconds
        let disk = AtomicOutputFile.diskBytes(file)

        var lines = ["saved \(image.formatName) \(image.path) as ELF vmcore \(file)"]
        lines.append("physical memory   \(loads.count) PT_LOAD\(loads.count == 1 ? "" : "s"), \(sizeText(total))")
        for l in loads.prefix(8) {
            lines.append("  \(hex(l.physicalAddress))-\(hex(l.end)) \(sizeText(l.size))")
        }
        if loads.count > 8 { lines.append("  ... \(loads.count - 8) more") }
        lines.append("notes             \(noteSummary(notes))")
        var sizeLine = "file size         \(result.fileSize) bytes"
        if let disk { sizeLine += ", \(disk) on disk (\(result.zeroPages) zero pages left as holes)" }
        lines.append(sizeLine)
        lines.append("time              \(fixed(seconds, 2)) s (\(fixed(rate(total, seconds), 0)) MiB/s)")
        lines += warnings.map { "warning: " + $0 }

        let fields: [(String, JSONValue)] = [
            ("file", .string(file)), ("source", .string(image.path)), ("source_format", .string(image.formatName)),
            ("segments", .array(loads.map { .object([("start", jsonAddress($0.physicalAddress)), ("end", jsonAddress($0.end))]) })),
            ("notes", .array(notes.map { .object([("name", .string($0.name)), ("type", .uint(UInt64($0.type))),
                                                  ("size", .uint(UInt64($0.descriptor.count)))]) })),
            ("memory_bytes", .uint(total)), ("file_size", .uint(result.fileSize)),
            ("disk_bytes", disk.map { .uint($0) } ?? .null),
            ("pages_written", .uint(result.pagesWritten)), ("zero_pages", .uint(result.zeroPages)),
            ("seconds", .double(seconds)), ("warnings", .array(warnings.map { .string($0) })),
        ]
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }

    /// `START-END` or `START+SIZE`, numbers in hex (0x) or decimal.
    static func range(_ text: String) throws -> PhysicalRange {
        let bad = CommandError.invalidArgument(text, message: "save vmcore: cannot read the range \"\(text)\": expected START-END or START+SIZE (numbers, 0x for hex)")
        let body = text.lowercased()
        guard let sep = body.dropFirst().firstIndex(where: { $0 == "-" || $0 == "+" }) else { throw bad }
        guard let start = AddressExpression.parseNumber(String(body[..<sep])),
              let second = AddressExpression.parseNumber(String(body[body.index(after: sep)...])) else { throw bad }
        if body[sep] == "+" {
            guard second > 0, checkedAdd(start, second) != nil else {
                throw CommandError.invalidArgument(text, message: "save vmcore: the range \(text) is empty or wraps around")
            }
            return PhysicalRange(start: start, size: second)
        }
        guard second > start else {
            throw CommandError.invalidArgument(text, message: "save vmcore: in the range \(text), END \(hex(second)) is not above START \(hex(start))")
        }
        return PhysicalRange(start: start, size: second - start)
    }

    /// The image's physical ranges, or those intersected with the requested
    /// ones (merged, sorted).
    static func selectRanges(image: CoreImage, requested: [PhysicalRange]) throws -> [ElfCoreWriter.Load] {
        let have = image.physicalRanges
        guard !have.isEmpty else {
            throw CommandError.targetState("save vmcore: \(image.path) holds no physical memory")
        }
        guard !requested.isEmpty else {
            return have.map { ElfCoreWriter.Load(physicalAddress: $0.start, size: $0.size) }
        }
        // Merge the requested ranges.
        var merged: [PhysicalRange] = []
        for r in requested.sorted(by: { $0.start < $1.start }) {
            if var last = merged.last, r.start <= last.end {
                if r.end > last.end { last.size = r.end - last.start }
                merged[merged.count - 1] = last
            } else {
                merged.append(r)
            }
        }
        var loads: [ElfCoreWriter.Load] = []
        for r in merged {
            for h in have {
                let s = max(r.start, h.start), e = min(r.end, h.end)
                if e > s { loads.append(ElfCoreWriter.Load(physicalAddress: s, size: e - s)) }
            }
        }
        loads.sort { $0.physicalAddress < $1.physicalAddress }
        guard !loads.isEmpty else {
            let shown = have.prefix(4).map { "\(hex($0.start))-\(hex($0.end))" }.joined(separator: ", ")
            throw CommandError.targetState("save vmcore: the image holds none of the requested physical memory; it has \(shown)\(have.count > 4 ? ", ..." : "")")
        }
        return loads
    }

    static func noteSummary(_ notes: [ElfNote]) -> String {
        var counts: [(String, Int)] = []
        for n in notes {
            let key: String
            if n.name == "CORE" && n.type == ElfNote.ntPrStatus { key = "CORE/PRSTATUS" }
            else if n.name == "VMCOREINFO" { key = "VMCOREINFO" }
            else { key = "\(n.name)/type \(n.type)" }
            if let i = counts.firstIndex(where: { $0.0 == key }) { counts[i].1 += 1 } else { counts.append((key, 1)) }
        }
        if counts.isEmpty { return "none" }
        return counts.map { $0.1 == 1 ? $0.0 : "\($0.0)×\($0.1)" }.joined(separator: ", ")
    }
}
