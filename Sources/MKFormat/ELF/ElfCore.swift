/// An ELF core file: a vmcore (physical `PT_LOAD`s, as kdump, makedumpfile
/// and QEMU write them) or a kcore (virtual `PT_LOAD`s as `/proc/kcore`
/// writes them, `p_paddr` all-ones where no physical address applies).
public final class ElfCore: CoreImage {
    public enum Style: String, Sendable { case vmcore, kcore }

    /// A `PT_LOAD` reduced to what reads need. `available` is how many of
    /// the `fileSize` bytes the file really holds (less when truncated).
    struct Segment {
        var start: UInt64
        var memorySize: UInt64
        var fileOffset: UInt64
        var fileSize: UInt64
        var available: UInt64
        var header: Int
    }

    public let path: String
    public let source: FileSource
    public let header: ElfHeader
    public let programHeaders: [ProgramHeader]
    public let notes: [ElfNote]
    public let style: Style
    public let physicalRanges: [PhysicalRange]
    public let virtualRanges: [VirtualRange]
    private let physicalSegments: [Segment]
    private let virtualSegments: [Segment]
    private var problems: [String] = []

    public var formatName: String { style == .kcore ? "ELF kcore" : "ELF vmcore" }
    public var elfMachine: UInt16? { header.machine }

    public convenience init(path: String) throws {
        try self.init(source: FileSource(path: path))
    }

    public init(source: FileSource) throws {
        self.source = source
        self.path = source.path
        let header = try ElfHeader(source: source)
        guard header.type == ElfHeader.etCore else {
            let kind = [1: "a relocatable object", 2: "an executable (a vmlinux?)", 3: "a shared object"][Int(header.type)] ?? "type \(header.type)"
            throw FormatError(.unsupported, file: path, offset: 16,
                              "ELF file is \(kind), expected a core file (e_type ET_CORE = 4)")
        }
        // Any e_machine is recorded (`elfMachine`); whether mkdbg can read the kernel is
        // the address layout's and the architecture table's decision.
        self.header = header
        let phdrs = try ProgramHeader.readAll(header, source: source)
        self.programHeaders = phdrs

        var problems: [String] = []
        var notes: [ElfNote] = []
        for ph in phdrs where ph.type == ProgramHeader.ptNote {
            guard ph.fileSize <= 64 << 20 else {
                throw FormatError(.corrupt, file: path, offset: ph.offset, "PT_NOTE segment \(ph.index) claims \(ph.fileSize) bytes")
            }
            let bytes = try source.read(at: ph.offset, count: Int(ph.fileSize),
                                        expecting: "PT_NOTE segment \(ph.index)")
            notes += try ElfNote.parse(bytes, file: path, base: ph.offset)
        }
        self.notes = notes

        let loads = phdrs.filter { $0.type == ProgramHeader.ptLoad }
        let style: Style = loads.contains { $0.physicalAddress == UInt64.max } ? .kcore : .vmcore
        self.style = style

        func segment(_ ph: ProgramHeader, start: UInt64) -> Segment {
            var available = ph.fileSize
            if ph.offset >= source.size {
                available = 0
            } else if source.size - ph.offset < ph.fileSize {
                available = source.size - ph.offset
            }
            return Segment(start: start, memorySize: max(ph.memorySize, ph.fileSize), fileOffset: ph.offset,
                           fileSize: ph.fileSize, available: available, header: ph.index)
        }

        for ph in loads {
            if checkedAdd(ph.offset, ph.fileSize) == nil || ph.offset > source.size || source.size - ph.offset < ph.fileSize {
                problems.append("PT_LOAD \(ph.index) is truncated: it needs file bytes \(hex(ph.offset))+\(hex(ph.fileSize)) but the file ends at \(hex(source.size))")
            }
            if ph.fileSize > ph.memorySize {
                problems.append("PT_LOAD \(ph.index) has p_filesz \(hex(ph.fileSize)) > p_memsz \(hex(ph.memorySize))")
            }
        }

        // Physical index: sorted, without overlaps (a kcore maps kernel text
        // and the direct map onto the same RAM, so there overlap is normal).
        var phys = loads.filter { $0.physicalAddress != UInt64.max && $0.memorySize > 0 }
            .map { segment($0, start: $0.physicalAddress) }
            .sorted { $0.start < $1.start }
        var merged: [Segment] = []
        for var s in phys {
            if let last = merged.last, let lastEnd = checkedAdd(last.start, last.memorySize), s.start < lastEnd {
                if style == .vmcore {
                    problems.append("PT_LOAD \(s.header) overlaps PT_LOAD \(last.header) at physical \(hex(s.start))")
                }
                guard let sEnd = checkedAdd(s.start, s.memorySize), sEnd > lastEnd else { continue }
                let cut = lastEnd - s.start
                s.start = lastEnd
                s.memorySize -= cut
                s.fileOffset &+= cut
                s.fileSize = s.fileSize > cut ? s.fileSize - cut : 0
                s.available = s.available > cut ? s.available - cut : 0
            }
            if checkedAdd(s.start, s.memorySize) == nil {
                problems.append("PT_LOAD \(s.header) wraps around the address space; ignored")
                continue
            }
            merged.append(s)
        }
        phys = merged
        self.physicalSegments = phys
        self.physicalRanges = phys.map { PhysicalRange(start: $0.start, size: $0.memorySize) }

        if style == .kcore {
            let virt = loads.filter { $0.memorySize > 0 && checkedAdd($0.virtualAddress, $0.memorySize) != nil }
                .map { segment($0, start: $0.virtualAddress) }
                .sorted { $0.start < $1.start }
            self.virtualSegments = virt
            self.virtualRanges = virt.map { s in
                let ph = phdrs[s.header]
                return VirtualRange(start: s.start, size: s.memorySize,
                                    physicalStart: ph.physicalAddress == UInt64.max ? nil : ph.physicalAddress)
            }
        } else {
            self.virtualSegments = []
            self.virtualRanges = []
        }

        if loads.isEmpty { problems.append("no PT_LOAD segments: the core holds no memory") }
        if !notes.contains(where: { $0.name == "VMCOREINFO" }) {
            problems.append("no VMCOREINFO note: the kernel's layout must come from the vmlinux alone")
        }
        self.problems = problems
    }

    public func report() -> ImageReport {
        var r = ImageReport()
        r.facts.append(("format", formatName))
        r.facts.append(("file size", "\(source.size) bytes"))
        r.facts.append(("program headers", "\(programHeaders.count) (\(programHeaders.filter { $0.type == ProgramHeader.ptLoad }.count) PT_LOAD)"))
        r.problems = problems
        return r
    }

    public func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        try read(physicalSegments, address, buffer) { .physicalNotPresent(address: $0, image: path) }
    }

    public func readVirtualDirect(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard style == .kcore else {
            throw MemoryError.virtualNotMapped(address: address, reason: "a vmcore maps no virtual addresses directly")
        }
        try read(virtualSegments, address, buffer) {
            .virtualNotMapped(address: $0, reason: "no PT_LOAD of \(self.path) covers it")
        }
    }

    /// Segment that holds `address`, by binary search over sorted starts.
    private func find(_ segments: [Segment], _ address: UInt64) -> Segment? {
        var lo = 0, hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].start <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = segments[lo - 1]
        return address - s.start < s.memorySize ? s : nil
    }

    private func read(_ segments: [Segment], _ address: UInt64, _ buffer: UnsafeMutableRawBufferPointer,
                      missing: (UInt64) -> MemoryError) throws {
        var done = 0
        while done < buffer.count {
            guard let at = checkedAdd(address, UInt64(done)) else { throw missing(address) }
            guard let s = find(segments, at) else { throw missing(at) }
            let within = at - s.start
            let inSegment = s.memorySize - within
            let n = Int(min(UInt64(buffer.count - done), inSegment))
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)])
            if within >= s.fileSize {
                chunk.initializeMemory(as: UInt8.self, repeating: 0)
            } else {
                let fromFile = Int(min(UInt64(n), s.fileSize - within))
                guard within + UInt64(fromFile) <= s.available else {
                    throw MemoryError.corrupt(address: at, detail: "PT_LOAD \(s.header) of \(path) is truncated at file offset \(hex(s.fileOffset &+ s.available))")
                }
                try source.read(at: s.fileOffset + within, into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<fromFile]))
                if fromFile < n {
                    UnsafeMutableRawBufferPointer(rebasing: chunk[fromFile..<n]).initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
            done += n
        }
    }
}
