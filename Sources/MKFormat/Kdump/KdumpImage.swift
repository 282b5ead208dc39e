#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MKSystem

/// Random-access bytes a kdump image is read from: the dump file itself, or
/// the reassembled view of a flattened stream.
protocol KdumpByteSource: AnyObject {
    var path: String { get }
    /// Size of the (logical) file; reads must end at or before it.
    var size: UInt64 { get }
    /// Bytes really stored on disk. Bounds allocations sized from header
    /// values: a flattened stream's logical size is itself a file value.
    var storedSize: UInt64 { get }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws
}

extension FileSource: KdumpByteSource {
    var storedSize: UInt64 { size }
}

extension KdumpByteSource {
    /// Reads `count` bytes that must lie inside the file.
    func bytes(at offset: UInt64, count: Int, expecting what: String) throws -> [UInt8] {
        guard count >= 0, let end = checkedAdd(offset, UInt64(count)), end <= size else {
            throw FormatError(.truncated, file: path, offset: offset,
                              "expected \(what) (\(count) bytes) but the dump is only \(size) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        return bytes
    }
}

/// A kdump-compressed dump (makedumpfile's "diskdump" format, also written by
/// QEMU's `dump-guest-memory -z`/`-l`/`-s`), plain or flattened.
///
/// Layout, in blocks of `block_size` bytes:
///
///     block 0                      disk_dump_header
///     block 1 .. sub_hdr_size      kdump_sub_header, ELF notes, VMCOREINFO
///     then bitmap_blocks / 2       1st bitmap: pfns present in the memory map
///     then bitmap_blocks / 2       2nd bitmap: pfns dumped
///     then                         page_desc[] for each dumped pfn, pfn order
///     then                         page data
///
/// `page_desc` is { offset i64, size u32, flags u32, page_flags u64 }: the
/// page's data lives at `offset`, `size` bytes, compressed as `flags` says
/// (0x1 zlib, 0x2 lzo, 0x4 snappy, 0x20 zstd; none: raw, `block_size` bytes).
/// Bitmaps are bit `pfn % 8` of byte `pfn / 8`.
public final class KdumpImage: CoreImage {
    /// Descriptor `flags` naming the compression.
    public static let flagZlib: UInt32 = 0x1
    public static let flagLzo: UInt32 = 0x2
    public static let flagSnappy: UInt32 = 0x4
    public static let flagZstd: UInt32 = 0x20
    public static let descriptorSize = 24
    /// Notes and VMCOREINFO larger than this are treated as corrupt sizes.
    static let maxNoteBytes: UInt64 = 64 << 20
    /// Bitmap words per rank-table entry (64 words = 4096 pfns).
    static let rankStride = 64
    static let cachedPages = 16

    public let path: String
    public let header: KdumpHeader
    /// The flattened stream this image is read through, if any.
    public let flattened: FlattenedFile?
    public let notes: [ElfNote]
    public let physicalRanges: [PhysicalRange]
    /// Pages with data in the dump (set bits of the 2nd bitmap in range).
    public let dumpedPages: UInt64

    public var formatName: String { flattened == nil ? "kdump-compressed" : "kdump-compressed (flattened)" }
    /// From `utsname.machine` (makedumpfile fills it, QEMU only for x86-64); when it names no
    /// known machine (QEMU's arm64 dumps say `Unknown`), from the keys only one architecture's
    /// VMCOREINFO has; nil when neither tells.
    public var elfMachine: UInt16? {
        switch header.machine {
        case "x86_64": return ElfHeader.emX86_64
        case "aarch64", "arm64": return ElfHeader.emAarch64
        default:
            guard let info = vmcoreInfo else { return nil }
            if info["NUMBER(kimage_voffset)"] != nil { return ElfHeader.emAarch64 }
            if info["SYMBOL(init_top_pgt)"] != nil { return ElfHeader.emX86_64 }
            return nil
        }
    }

    private let source: KdumpByteSource
    private let blockSize: Int
    private let blockShift: UInt64
    /// 1st bitmap (memory map) and 2nd bitmap (dumped pages), 64 pfns a word.
    private let presentBits: [UInt64]
    private let dumpedBits: [UInt64]
    /// Set bits of `dumpedBits` before word `i * rankStride`.
    private let rank: [UInt64]
    /// Pfns below this may be read; above it nothing is in the dump.
    private let maxMapnr: UInt64
    /// The pfn range this file holds pages for (a part of a split dump
    /// holds only its own range); descriptors are numbered from `lowPfn`.
    private let lowPfn: UInt64
    private let highPfn: UInt64
    private let rankBase: UInt64
    private let descriptorOffset: UInt64
    private let problems: [String]
    private let cache: PageCache

    public convenience init(source: FileSource) throws {
        try self.init(byteSource: source, flattened: nil)
    }

    public convenience init(flattened: FlattenedFile) throws {
        try self.init(byteSource: flattened, flattened: flattened)
    }

    init(byteSource source: KdumpByteSource, flattened: FlattenedFile?) throws {
        self.source = source
        self.flattened = flattened
        let path = source.path
        self.path = path
        let header = try KdumpHeader(reading: source)
        self.header = header
        let bs = header.blockSize
        self.blockSize = bs
        self.blockShift = UInt64(bs.trailingZeroBitCount)
        var problems: [String] = []

        if flattened?.hasEndMarker == false {
            problems.append("the flattened stream has no end marker: it was cut short after a whole record")
        }
        if header.isIncomplete {
            problems.append("the header's status marks the dump incomplete (the writer ran out of space or was interrupted)")
        }
        if header.bitmapBlocks % 2 != 0 {
            problems.append("bitmap_blocks \(header.bitmapBlocks) is odd; each bitmap is taken as \(header.bitmapBlocks / 2) blocks")
        }

        // Bitmaps. Only what the file really holds is read (bits past it are
        // clear), so no allocation follows an unchecked header value.
        let bitmapOffset = header.bitmapOffset
        let bitmapLength = header.bitmapLength
        guard bitmapOffset < source.size else {
            throw FormatError(.truncated, file: path, offset: bitmapOffset,
                              "expected the kdump page bitmaps at \(hex(bitmapOffset)) (after \(1 + header.subHeaderBlocks) blocks of headers) but the dump ends at \(hex(source.size))")
        }
        func readBitmap(_ offset: UInt64, _ name: String) throws -> [UInt64] {
            var length = bitmapLength
            if offset >= source.size {
                length = 0
            } else if source.size - offset < length {
                length = source.size - offset
            }
            length = min(length, source.storedSize)
            if length < bitmapLength {
                problems.append("the \(name) bitmap (\(hex(offset))+\(hex(bitmapLength))) runs past the end of the dump at \(hex(source.size)); pages past \(hex(length * 8)) pfns read as absent")
            }
            var words = [UInt64](repeating: 0, count: Int((length + 7) / 8))
            try words.withUnsafeMutableBytes { try source.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<Int(length)])) }
            #if _endian(big)
            for i in words.indices { words[i] = UInt64(littleEndian: words[i]) }
            #endif
            return words
        }
        presentBits = try readBitmap(bitmapOffset, "1st")
        dumpedBits = try readBitmap(bitmapOffset + bitmapLength, "2nd")
        let bitmapPfns = UInt64(dumpedBits.count) * 64

        maxMapnr = header.maxMapnr
        if header.maxMapnr > bitmapLength * 8 {
            problems.append("max_mapnr \(hex(header.maxMapnr)) is more than the bitmaps cover (\(hex(bitmapLength * 8)) pfns)")
        }
        if let m64 = header.maxMapnr64, m64 <= UInt64(UInt32.max), UInt64(header.maxMapnr32) != m64 {
            problems.append("max_mapnr \(hex(header.maxMapnr32)) in the header differs from max_mapnr_64 \(hex(m64)) in the sub-header")
        }
        var low: UInt64 = 0
        var high = min(maxMapnr, bitmapPfns)
        if header.isSplit, let start = header.startPfn, let end = header.endPfn {
            low = min(start, high)
            high = min(max(end, low), high)
        }
        lowPfn = low
        highPfn = high

        // Rank table: cumulative popcount of the 2nd bitmap per stride.
        var rank: [UInt64] = []
        rank.reserveCapacity(dumpedBits.count / Self.rankStride + 1)
        var total: UInt64 = 0
        for (i, word) in dumpedBits.enumerated() {
            if i % Self.rankStride == 0 { rank.append(total) }
            total += UInt64(word.nonzeroBitCount)
        }
        self.rank = rank

        // Physical ranges: runs of dumped pfns in [low, high).
        var ranges: [PhysicalRange] = []
        var dumped: UInt64 = 0
        var runStart: UInt64? = nil
        func close(_ end: UInt64) {
            if let s = runStart {
                ranges.append(PhysicalRange(start: s << UInt64(bs.trailingZeroBitCount), size: (end - s) << UInt64(bs.trailingZeroBitCount)))
                dumped += end - s
                runStart = nil
            }
        }
        if low < high {
            var w = Int(low / 64)
            let lastWord = Int((high - 1) / 64)
            while w <= lastWord {
                var word = dumpedBits[w]
                let base = UInt64(w) * 64
                if base < low { word &= ~0 << (low - base) }
                if high - base < 64 { word &= (1 << (high - base)) - 1 }
                if word == 0 {
                    close(base)
                } else if word == ~0 {
                    if runStart == nil { runStart = base }
                } else {
                    for bit in 0..<UInt64(64) {
                        if word & (1 << bit) != 0 {
                            if runStart == nil { runStart = base + bit }
                        } else {
                            close(base + bit)
                        }
                    }
                }
                w += 1
            }
            close(min(UInt64(lastWord + 1) * 64, high))
        }
        physicalRanges = ranges
        dumpedPages = dumped

        // Descriptors: one per dumped pfn, numbered from the file's first pfn.
        descriptorOffset = header.descriptorOffset
        var rankBase: UInt64 = 0
        if low > 0 && low < high {
            rankBase = Self.rank(of: low, bits: dumpedBits, table: rank)
        }
        self.rankBase = rankBase
        if dumped > 0 {
            let (tableSize, overflow) = dumped.multipliedReportingOverflow(by: UInt64(Self.descriptorSize))
            if overflow || checkedAdd(descriptorOffset, tableSize).map({ $0 > source.size }) ?? true {
                problems.append("the page descriptor table (\(hex(descriptorOffset))+\(hex(tableSize))) runs past the end of the dump at \(hex(source.size)); pages whose descriptors are missing cannot be read")
            }
        }

        // Notes: the sub-header's ELF note block (QEMU and makedumpfile copy
        // the crashed kernel's PT_NOTE there), then VMCOREINFO on its own.
        var notes: [ElfNote] = []
        if let offset = header.offsetNote, let size = header.sizeNote, size > 0 {
            if let bytes = Self.block(source, offset, size, "the ELF note block", &problems) {
                do {
                    notes = try ElfNote.parse(bytes, file: path, base: offset)
                } catch {
                    problems.append("the ELF note block is damaged: \(error)")
                }
            }
        }
        if !notes.contains(where: { $0.name == "VMCOREINFO" }),
           let offset = header.offsetVmcoreinfo, let size = header.sizeVmcoreinfo, size > 0,
           let bytes = Self.block(source, offset, size, "VMCOREINFO", &problems) {
            notes.append(ElfNote(name: "VMCOREINFO", type: 0, descriptor: bytes, offset: offset))
        }
        self.notes = notes
        if !notes.contains(where: { $0.name == "VMCOREINFO" }) {
            problems.append("no VMCOREINFO: the kernel's layout must come from the vmlinux alone")
        }
        if let info = notes.first(where: { $0.name == "VMCOREINFO" }).map({ VmcoreInfo(text: String(decoding: $0.descriptor, as: UTF8.self)) }),
           let physBase = info.physBase, UInt64(bitPattern: physBase) != header.physBase {
            problems.append("the sub-header's phys_base \(hex(header.physBase)) differs from VMCOREINFO's NUMBER(phys_base) \(physBase < 0 ? "-" + hex(physBase.magnitude) : hex(physBase)); the dump writer's value is not trusted (QEMU guesses it)")
        }
        if let size = header.sizeEraseinfo, size > 0 {
            problems.append("the dump carries erase information (\(size) bytes): some memory was deliberately scrubbed")
        }
        self.problems = problems
        self.cache = PageCache(capacity: Self.cachedPages, pageSize: bs)
    }

    /// Reads a note-like block the sub-header points at, or records why not.
    private static func block(_ source: KdumpByteSource, _ offset: UInt64, _ size: UInt64, _ what: String,
                              _ problems: inout [String]) -> [UInt8]? {
        guard size <= maxNoteBytes else {
            problems.append("the sub-header claims \(size) bytes of \(what), more than \(maxNoteBytes); ignored")
            return nil
        }
        guard let end = checkedAdd(offset, size), end <= source.size else {
            problems.append("\(what) at \(hex(offset))+\(hex(size)) runs past the end of the dump at \(hex(source.size)); ignored")
            return nil
        }
        do {
            return try source.bytes(at: offset, count: Int(size), expecting: what)
        } catch {
            problems.append("cannot read \(what): \(error)")
            return nil
        }
    }

    /// Set bits of `bits` below `pfn` (which must be inside the bitmap).
    private static func rank(of pfn: UInt64, bits: [UInt64], table: [UInt64]) -> UInt64 {
        let word = Int(pfn / 64)
        let entry = word / rankStride
        var count = table[entry]
        var w = entry * rankStride
        while w < word {
            count += UInt64(bits[w].nonzeroBitCount)
            w += 1
        }
        let bit = pfn % 64
        if bit > 0 { count += UInt64((bits[word] & ((1 << bit) - 1)).nonzeroBitCount) }
        return count
    }

    @inline(__always)
    private static func bit(_ bits: [UInt64], _ pfn: UInt64) -> Bool {
        let word = pfn / 64
        guard word < UInt64(bits.count) else { return false }
        return bits[Int(word)] & (1 << (pfn % 64)) != 0
    }

    public func report() -> ImageReport {
        var r = ImageReport()
        r.facts.append(("format", formatName))
        if let flattened {
            r.facts.append(("file size", "\(flattened.source.size) bytes (reassembled: \(flattened.logicalSize) bytes)"))
            r.facts.append(("flattened records", "\(flattened.recordCount)" + (flattened.overwrittenRecords > 0 ? " (\(flattened.overwrittenRecords) overwritten by later ones)" : "")))
        } else {
            r.facts.append(("file size", "\(source.size) bytes"))
        }
        r.facts.append(("header version", "\(header.headerVersion)"))
        r.facts.append(("block size", "\(header.blockSize)"))
        r.facts.append(("max_mapnr", "\(hex(header.maxMapnr)) (\(header.maxMapnr) pfns)"))
        r.facts.append(("dumped pages", "\(dumpedPages)"))
        r.facts.append(("physical ranges", "\(physicalRanges.count)"))
        if header.isSplit {
            r.facts.append(("split part", "pfns \(hex(lowPfn))-\(hex(highPfn))"))
        }
        let methods = [(Self.flagZlib, "zlib"), (Self.flagLzo, "lzo"), (Self.flagSnappy, "snappy"), (Self.flagZstd, "zstd")]
            .filter { header.status & $0.0 != 0 }.map(\.1)
        r.facts.append(("compression", methods.isEmpty ? "none recorded in the header" : methods.joined(separator: ", ")))
        // QEMU fills only utsname.machine; fall back to VMCOREINFO's release.
        if !header.release.isEmpty {
            r.facts.append(("release", header.release))
        } else if let release = vmcoreInfo?.osRelease {
            r.facts.append(("release", "\(release) (from VMCOREINFO; the header's utsname is empty)"))
        }
        r.facts.append(("machine", header.machine))
        if !header.nodename.isEmpty { r.facts.append(("node", header.nodename)) }
        if let level = header.dumpLevel { r.facts.append(("dump level", "\(level)")) }
        r.facts.append(("cpus", "\(header.nrCPUs)"))
        r.facts.append(("sub-header phys_base", "\(hex(header.physBase)) (not trusted)"))
        r.problems = problems
        return r
    }

    // MARK: Reading

    public func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            guard let at = checkedAdd(address, UInt64(done)) else {
                throw MemoryError.physicalNotPresent(address: address, image: path)
            }
            let pfn = at >> blockShift
            let within = Int(at & UInt64(blockSize - 1))
            let n = min(buffer.count - done, blockSize - within)
            let out = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)])
            try withPage(pfn, address: at) { page in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: page[within..<(within + n)]))
            }
            done += n
        }
    }

    /// Whether the page holding `address` has data in the dump.
    public func isDumped(_ address: UInt64) -> Bool {
        let pfn = address >> blockShift
        return pfn >= lowPfn && pfn < highPfn && Self.bit(dumpedBits, pfn)
    }

    private func withPage(_ pfn: UInt64, address: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        guard pfn >= lowPfn, pfn < highPfn, Self.bit(dumpedBits, pfn) else {
            if pfn >= maxMapnr || !Self.bit(presentBits, pfn) {
                throw MemoryError.physicalNotPresent(address: address, image: path)
            }
            throw MemoryError.pageExcluded(address: address, image: path)
        }
        try cache.withPage(pfn, fill: { try self.load(pfn, address: address, into: $0) }, body)
    }

    /// Decompresses (or copies) page `pfn` into `page` (`blockSize` bytes).
    private func load(_ pfn: UInt64, address: UInt64, into page: UnsafeMutableRawBufferPointer) throws {
        let index = Self.rank(of: pfn, bits: dumpedBits, table: rank) - rankBase
        let descAt = descriptorOffset &+ index &* UInt64(Self.descriptorSize)
        func corrupt(_ detail: String) -> MemoryError {
            .corrupt(address: address, detail: "page descriptor for pfn \(hex(pfn)) at offset \(hex(descAt)) of \(path) \(detail)")
        }
        guard let descEnd = checkedAdd(descAt, UInt64(Self.descriptorSize)), descEnd <= source.size else {
            throw corrupt("lies past the end of the dump at \(hex(source.size)) (the dump is truncated)")
        }
        var raw = (UInt64(0), UInt64(0), UInt64(0))
        try withUnsafeMutableBytes(of: &raw) { try source.read(at: descAt, into: $0) }
        let offset = Int64(bitPattern: UInt64(littleEndian: raw.0))
        let sizeAndFlags = UInt64(littleEndian: raw.1)
        let size = UInt32(truncatingIfNeeded: sizeAndFlags)
        let flags = UInt32(truncatingIfNeeded: sizeAndFlags >> 32)

        guard offset >= 0, size > 0, let dataEnd = checkedAdd(UInt64(offset), UInt64(size)), dataEnd <= source.size else {
            throw corrupt("claims data at offset \(offset) size \(size), outside the dump (\(hex(source.size)) bytes)")
        }
        let method: Decompressor.Method?
        switch flags {
        case 0: method = nil
        case Self.flagZlib: method = .zlib
        case Self.flagLzo: method = .lzo
        case Self.flagSnappy: method = .snappy
        case Self.flagZstd: method = .zstd
        default: throw corrupt("has unknown flags \(hex(flags))")
        }
        guard let method else {
            guard Int(size) == blockSize else {
                throw corrupt("is uncompressed but has size \(size), not the block size \(blockSize)")
            }
            try source.read(at: UInt64(offset), into: page)
            return
        }
        guard Int(size) <= blockSize else {
            throw corrupt("is \(method.rawValue)-compressed with size \(size), larger than the block size \(blockSize)")
        }
        try cache.withScratch(Int(size)) { scratch in
            try source.read(at: UInt64(offset), into: scratch)
            let produced: Int
            do {
                produced = try Decompressor.decompress(method, UnsafeRawBufferPointer(scratch), into: page)
            } catch let failure as Decompressor.Failure {
                throw corrupt("(data at \(hex(offset)), \(size) bytes): \(failure)")
            }
            guard produced == blockSize else {
                throw corrupt("(data at \(hex(offset)), \(size) bytes) decompresses to \(produced) bytes, not the block size \(blockSize)")
            }
        }
    }
}

/// The last few pages read, most recently used kept; guarded by a mutex so
/// the image can be read from several threads.
private final class PageCache {
    private var pfns: [UInt64]
    private var stamps: [UInt64]
    private var pages: UnsafeMutableRawBufferPointer
    private var scratch: UnsafeMutableRawBufferPointer
    private let pageSize: Int
    private var clock: UInt64 = 0
    private let mutex = Mutex()

    init(capacity: Int, pageSize: Int) {
        self.pageSize = pageSize
        pfns = [UInt64](repeating: UInt64.max, count: capacity)
        stamps = [UInt64](repeating: 0, count: capacity)
        pages = .allocate(byteCount: capacity * pageSize, alignment: 16)
        scratch = .allocate(byteCount: pageSize, alignment: 16)
    }

    deinit {
        pages.deallocate()
        scratch.deallocate()
    }

    /// Runs `body` on page `pfn`, filling a slot with `fill` on a miss.
    func withPage(_ pfn: UInt64, fill: (UnsafeMutableRawBufferPointer) throws -> Void,
                  _ body: (UnsafeRawBufferPointer) -> Void) throws {
        try mutex.withLock {
            clock += 1
            if let slot = pfns.firstIndex(of: pfn) {
                stamps[slot] = clock
                body(UnsafeRawBufferPointer(page(slot)))
                return
            }
            var victim = 0
            for i in stamps.indices where stamps[i] < stamps[victim] { victim = i }
            pfns[victim] = UInt64.max
            try fill(page(victim))
            pfns[victim] = pfn
            stamps[victim] = clock
            body(UnsafeRawBufferPointer(page(victim)))
        }
    }

    /// A page-sized buffer for compressed bytes; only valid while the lock is
    /// held (inside `withPage`'s `fill`).
    func withScratch(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try body(UnsafeMutableRawBufferPointer(rebasing: scratch[0..<count]))
    }

    private func page(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: pages[(slot * pageSize)..<((slot + 1) * pageSize)])
    }
}
