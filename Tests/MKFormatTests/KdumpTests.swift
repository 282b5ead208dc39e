import CLzo
import CSnappy
import CZlib
import CZstd
import Foundation
import Testing
@testable import MKFormat

/// How the builder stores one dumped page.
enum KdumpPage {
    case raw([UInt8])
    case zlib([UInt8])
    case lzo([UInt8])
    case snappy([UInt8])
    case zstd([UInt8])
    /// A hand-made descriptor; `offset` nil means "where `data` is written".
    case custom(offset: Int64?, size: UInt32, flags: UInt32, data: [UInt8])
}

/// Writes small kdump-compressed files (header version 6 by default, x86-64
/// layout) the way makedumpfile and QEMU lay them out.
struct KdumpBuilder {
    var blockSize = 4096
    var headerVersion: Int32 = 6
    var maxMapnr: UInt64 = 24
    /// pfns in the memory map (1st bitmap); dumped pfns are added to it.
    var present: Set<UInt64> = []
    /// Dumped pfns (2nd bitmap) and their data.
    var pages: [UInt64: KdumpPage] = [:]
    var vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nKERNELOFFSET=1e000000\nNUMBER(phys_base)=-545259520\nSYMBOL(init_top_pgt)=ffffffff9f00a000\n"
    /// Carry VMCOREINFO as an ELF note in the note block (QEMU style), or
    /// only as raw text at offset_vmcoreinfo.
    var vmcoreinfoAsNote = true
    var physBase: UInt64 = 0x1234_0000
    var release = "6.1.0-test"

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { ElfCoreBuilder.le(v) }

    static func field(_ s: String, _ width: Int) -> [UInt8] {
        let b = Array(s.utf8.prefix(width - 1))
        return b + [UInt8](repeating: 0, count: width - b.count)
    }

    static func pad(_ b: inout [UInt8], to size: Int) {
        if b.count < size { b += [UInt8](repeating: 0, count: size - b.count) }
    }

    /// Layout facts the tests check errors against.
    struct Layout {
        var descriptorTable = 0
        var subHeaderBlocks = 0
        var bitmapBlocks = 0
        /// Descriptor index of each dumped pfn.
        var index: [UInt64: Int] = [:]
        func descriptorOffset(_ pfn: UInt64) -> Int { descriptorTable + 24 * index[pfn]! }
    }

    func build() -> [UInt8] { buildWithLayout().0 }

    func buildWithLayout() -> ([UInt8], Layout) {
        let bs = blockSize
        var layout = Layout()
        // Sub-header area: sub-header, note block, raw VMCOREINFO.
        let noteOffset = bs + 104
        var notes = ElfCoreBuilder.note("CORE", 1, [UInt8](repeating: 0xab, count: 336))
        var vmcoreinfoOffset = 0
        if vmcoreinfoAsNote {
            let vmNote = ElfCoreBuilder.note("VMCOREINFO", 0, Array(vmcoreinfo.utf8))
            // the descriptor starts after the 12-byte header and "VMCOREINFO\0" padded to 12
            vmcoreinfoOffset = noteOffset + notes.count + 12 + 12
            notes += vmNote
        }
        var area: [UInt8] = []
        area += notes
        if !vmcoreinfoAsNote {
            vmcoreinfoOffset = noteOffset + area.count
            area += Array(vmcoreinfo.utf8)
        }
        let subHeaderBlocks = (104 + area.count + bs - 1) / bs
        layout.subHeaderBlocks = subHeaderBlocks

        let bitmapBytes = Int((maxMapnr + 7) / 8)
        let bitmapBlocksEach = max(1, (bitmapBytes + bs - 1) / bs)
        let bitmapBlocks = 2 * bitmapBlocksEach
        layout.bitmapBlocks = bitmapBlocks

        // Header block.
        var h: [UInt8] = Array("KDUMP   ".utf8) + Self.le(headerVersion)
        for s in ["Linux", "testhost", release, "#1 SMP PREEMPT_DYNAMIC", "x86_64", "(none)"] { h += Self.field(s, 65) }
        Self.pad(&h, to: 408)
        h += Self.le(Int64(1_700_000_000)) + Self.le(Int64(0))
        h += Self.le(UInt32(0))                      // status
        h += Self.le(Int32(bs))                      // block_size
        h += Self.le(Int32(subHeaderBlocks))
        h += Self.le(UInt32(bitmapBlocks))
        h += Self.le(UInt32(truncatingIfNeeded: min(maxMapnr, UInt64(UInt32.max))))
        h += Self.le(UInt32(0)) + Self.le(UInt32(0)) + Self.le(UInt32(0)) // total_ram, device, written
        h += Self.le(UInt32(0)) + Self.le(Int32(1))  // current_cpu, nr_cpus
        Self.pad(&h, to: bs)

        // Sub-header block(s).
        var s: [UInt8] = Self.le(physBase) + Self.le(Int32(31)) + Self.le(Int32(0))
        s += Self.le(UInt64(0)) + Self.le(maxMapnr)                                      // start/end pfn
        s += Self.le(UInt64(vmcoreinfoOffset)) + Self.le(UInt64(vmcoreinfo.utf8.count))
        s += Self.le(UInt64(noteOffset)) + Self.le(UInt64(notes.count))
        s += Self.le(UInt64(0)) + Self.le(UInt64(0))                                     // eraseinfo
        s += Self.le(UInt64(0)) + Self.le(maxMapnr) + Self.le(maxMapnr)                  // *_64
        s += area
        Self.pad(&s, to: subHeaderBlocks * bs)

        // Bitmaps.
        var first = [UInt8](repeating: 0, count: bitmapBlocksEach * bs)
        var second = first
        for pfn in present.union(pages.keys) { first[Int(pfn / 8)] |= 1 << (pfn % 8) }
        for pfn in pages.keys { second[Int(pfn / 8)] |= 1 << (pfn % 8) }

        // Descriptors and data.
        let dumped = pages.keys.sorted()
        layout.descriptorTable = (1 + subHeaderBlocks + bitmapBlocks) * bs
        var dataOffset = layout.descriptorTable + 24 * dumped.count
        var descriptors: [UInt8] = []
        var data: [UInt8] = []
        for (i, pfn) in dumped.enumerated() {
            layout.index[pfn] = i
            let (bytes, flags, sizeOverride, offsetOverride): ([UInt8], UInt32, UInt32?, Int64?)
            switch pages[pfn]! {
            case .raw(let p): (bytes, flags, sizeOverride, offsetOverride) = (p, 0, nil, nil)
            case .zlib(let p): (bytes, flags, sizeOverride, offsetOverride) = (Compress.zlib(p), 1, nil, nil)
            case .lzo(let p): (bytes, flags, sizeOverride, offsetOverride) = (Compress.lzo(p), 2, nil, nil)
            case .snappy(let p): (bytes, flags, sizeOverride, offsetOverride) = (Compress.snappy(p), 4, nil, nil)
            case .zstd(let p): (bytes, flags, sizeOverride, offsetOverride) = (Compress.zstd(p), 0x20, nil, nil)
            case let .custom(offset, size, f, d): (bytes, flags, sizeOverride, offsetOverride) = (d, f, size, offset)
            }
            descriptors += Self.le(offsetOverride ?? Int64(dataOffset))
            descriptors += Self.le(sizeOverride ?? UInt32(bytes.count)) + Self.le(flags) + Self.le(UInt64(0))
            data += bytes
            dataOffset += bytes.count
        }
        return (h + s + first + second + descriptors + data, layout)
    }
}

/// Compression through the C libraries, for building fixtures.
enum Compress {
    static func zlib(_ input: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(compressBound(uLong(input.count))))
        var length = uLongf(out.count)
        let rc = compress2(&out, &length, input, uLong(input.count), 6)
        precondition(rc == Z_OK)
        return Array(out[0..<Int(length)])
    }

    static func lzo(_ input: [UInt8]) -> [UInt8] {
        precondition(Decompressor.lzoReady)
        var out = [UInt8](repeating: 0, count: input.count + input.count / 16 + 64 + 3)
        var work = [UInt8](repeating: 0, count: 16384 * MemoryLayout<UnsafeRawPointer>.size) // LZO1X_1_MEM_COMPRESS
        var length = lzo_uint(0)
        var src = input
        let rc = lzo1x_1_compress(&src, lzo_uint(input.count), &out, &length, &work)
        precondition(rc == LZO_E_OK)
        return Array(out[0..<Int(length)])
    }

    static func snappy(_ input: [UInt8]) -> [UInt8] {
        var out = [CChar](repeating: 0, count: snappy_max_compressed_length(input.count))
        var length = out.count
        let rc = input.withUnsafeBufferPointer { inp in
            inp.withMemoryRebound(to: CChar.self) { snappy_compress($0.baseAddress, input.count, &out, &length) }
        }
        precondition(rc == SNAPPY_OK)
        return out[0..<length].map { UInt8(bitPattern: $0) }
    }

    static func zstd(_ input: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = ZSTD_compress(&out, out.count, input, input.count, 3)
        precondition(ZSTD_isError(n) == 0)
        return Array(out[0..<n])
    }
}

/// Writes `logical` as a flattened makedumpfile stream: a provisional
/// (garbage) header record first, the chunks in shuffled order, the real
/// header again at the end, then the end marker. All-zero chunks past the
/// provisional header are left out (they read back as holes).
func flatten(_ logical: [UInt8], chunk: Int = 1000, seed: UInt64 = 7, endMarker: Bool = true) -> [UInt8] {
    func be(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    var out = Array("makedumpfile".utf8) + [0, 0, 0, 0] + be(1) + be(1)
    KdumpBuilder.pad(&out, to: 4096)
    func record(_ offset: Int, _ bytes: ArraySlice<UInt8>) {
        out += be(Int64(offset)) + be(Int64(bytes.count)) + bytes
    }
    record(0, ArraySlice([UInt8](repeating: 0xee, count: 6000)))
    var starts = Array(stride(from: 0, to: logical.count, by: chunk))
    var x = seed | 1
    for i in stride(from: starts.count - 1, to: 0, by: -1) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        starts.swapAt(i, Int(x % UInt64(i + 1)))
    }
    for start in starts {
        let end = min(start + chunk, logical.count)
        let piece = logical[start..<end]
        if start >= 6000, end < logical.count, piece.allSatisfy({ $0 == 0 }) { continue }
        record(start, piece)
    }
    record(0, logical[0..<4096])
    if endMarker { out += be(-1) + be(-1) }
    return out
}

@Suite struct KdumpTests {
    /// A compressible page: text naming the pfn with some noise.
    static func page(_ pfn: UInt64) -> [UInt8] {
        var p: [UInt8] = []
        let noise = pseudoRandomBytes(512, seed: pfn + 100)
        while p.count < 4096 { p += Array("page \(pfn) line \(p.count / 64) ".utf8) + noise[(p.count % 400)..<(p.count % 400 + 20)] }
        return Array(p[0..<4096])
    }

    static let rawPage = pseudoRandomBytes(4096, seed: 42)

    /// pfn 0-3 one per compression, 4 raw random, 5 raw zeros, 6 excluded,
    /// 7 a hole in the memory map, 8 zlib, 9 zstd; max_mapnr 24 with 10-23
    /// present but excluded.
    static func sampleBuilder() -> KdumpBuilder {
        var b = KdumpBuilder()
        b.pages = [0: .zlib(page(0)), 1: .lzo(page(1)), 2: .snappy(page(2)), 3: .zstd(page(3)),
                   4: .raw(rawPage), 5: .raw([UInt8](repeating: 0, count: 4096)),
                   8: .zlib(page(8)), 9: .zstd(page(9))]
        b.present = Set([6] + Array(10..<24))
        return b
    }

    static func expected(_ pfn: UInt64) -> [UInt8] {
        switch pfn {
        case 4: return rawPage
        case 5: return [UInt8](repeating: 0, count: 4096)
        default: return page(pfn)
        }
    }

    @Test func readsEveryCompression() throws {
        let dir = TempDir()
        let path = dir.write("vmcore.kdump", Self.sampleBuilder().build())
        let image = try ImageOpener.open(path)
        #expect(image.formatName == "kdump-compressed")
        for pfn: UInt64 in [0, 1, 2, 3, 4, 5, 8, 9] {
            #expect(try image.readPhysical(pfn * 4096, count: 4096) == Self.expected(pfn), "pfn \(pfn)")
        }
        // twice, so the second read comes from the page cache
        #expect(try image.readPhysical(0x1010, count: 32) == Array(Self.page(1)[16..<48]))
        #expect(try image.readPhysical(0x1010, count: 32) == Array(Self.page(1)[16..<48]))
        #expect(image.physicalRanges == [PhysicalRange(start: 0, size: 0x6000), PhysicalRange(start: 0x8000, size: 0x2000)])
        let kdump = try #require(image as? KdumpImage)
        #expect(kdump.dumpedPages == 8)
        #expect(kdump.header.release == "6.1.0-test")
        #expect(kdump.header.machine == "x86_64")
        #expect(kdump.header.maxMapnr == 24)
        #expect(kdump.header.headerVersion == 6)
    }

    @Test func readsCrossPageBoundaries() throws {
        let dir = TempDir()
        let image = try KdumpImage(source: FileSource(path: dir.write("k", Self.sampleBuilder().build())))
        let all = (0..<6).flatMap { Self.expected(UInt64($0)) }
        // from the middle of pfn 0 to the middle of pfn 5, through every compression
        #expect(try image.readPhysical(0x0ff0, count: 0x4020) == Array(all[0x0ff0..<0x5010]))
        #expect(try image.readPhysical(0x8ffc, count: 8) == Array(Self.page(8)[4092...]) + Array(Self.page(9)[0..<4]))
        // running off the last dumped page names the first missing byte
        #expect(throws: MemoryError.pageExcluded(address: 0x6000, image: image.path)) {
            try image.readPhysical(0x5ff0, count: 32)
        }
    }

    @Test func missingPagesGiveSpecificErrors() throws {
        let dir = TempDir()
        let path = dir.write("k", Self.sampleBuilder().build())
        let image = try ImageOpener.open(path)
        // present in the memory map but filtered out of the dump
        #expect(throws: MemoryError.pageExcluded(address: 0x6008, image: path)) { try image.readPhysical(0x6008, count: 1) }
        #expect(throws: MemoryError.pageExcluded(address: 0x17000, image: path)) { try image.readPhysical(0x17000, count: 1) }
        // a hole in the memory map
        #expect(throws: MemoryError.physicalNotPresent(address: 0x7000, image: path)) { try image.readPhysical(0x7000, count: 1) }
        // beyond max_mapnr
        #expect(throws: MemoryError.physicalNotPresent(address: 0x18000, image: path)) { try image.readPhysical(0x18000, count: 1) }
        #expect(throws: MemoryError.physicalNotPresent(address: 1 << 40, image: path)) { try image.readPhysical(1 << 40, count: 8) }
        #expect(throws: MemoryError.self) { try image.readPhysical(UInt64.max - 2, count: 8) }
    }

    @Test func vmcoreInfoNoteFromTheSubHeader() throws {
        let dir = TempDir()
        let image = try ImageOpener.open(dir.write("k", Self.sampleBuilder().build()))
        #expect(image.notes.map(\.name) == ["CORE", "VMCOREINFO"])
        let info = try #require(image.vmcoreInfo)
        #expect(info.osRelease == "6.1.0-test")
        #expect(info.physBase == -545259520)
        #expect(info.symbol("init_top_pgt") == 0xffffffff9f00a000)
        let report = image.report()
        let facts = Dictionary(report.facts, uniquingKeysWith: { a, _ in a })
        #expect(facts["format"] == "kdump-compressed")
        #expect(facts["header version"] == "6")
        #expect(facts["block size"] == "4096")
        #expect(facts["dumped pages"] == "8")
        #expect(facts["release"] == "6.1.0-test")
        #expect(facts["machine"] == "x86_64")
        #expect(facts["sub-header phys_base"] == "0x12340000 (not trusted)")
        // the sub-header's phys_base disagrees with VMCOREINFO's
        #expect(report.problems.contains { $0.contains("phys_base") && $0.contains("0x12340000") })
    }

    @Test func vmcoreInfoWithoutNoteIsSynthesized() throws {
        let dir = TempDir()
        var b = Self.sampleBuilder()
        b.vmcoreinfoAsNote = false
        b.physBase = UInt64(bitPattern: -545259520)
        let image = try ImageOpener.open(dir.write("k", b.build()))
        #expect(image.notes.map(\.name) == ["CORE", "VMCOREINFO"])
        let note = try #require(image.notes.last)
        #expect(note.type == 0)
        #expect(image.vmcoreInfo?.osRelease == "6.1.0-test")
        // phys_base agrees this time
        #expect(!image.report().problems.contains { $0.contains("phys_base") })
    }

    @Test func olderHeaderVersions() throws {
        let dir = TempDir()
        // version 3: VMCOREINFO offsets but no note block, 32-bit max_mapnr
        var b = Self.sampleBuilder()
        b.headerVersion = 3
        b.vmcoreinfoAsNote = false
        let v3 = try #require(try ImageOpener.open(dir.write("v3", b.build())) as? KdumpImage)
        #expect(v3.header.offsetNote == nil && v3.header.maxMapnr64 == nil)
        #expect(v3.header.maxMapnr == 24)
        #expect(v3.notes.map(\.name) == ["VMCOREINFO"])
        #expect(try v3.readPhysical(0x3000, count: 4096) == Self.page(3))
        // version 1: no VMCOREINFO at all
        b.headerVersion = 1
        let v1 = try ImageOpener.open(dir.write("v1", b.build()))
        #expect(v1.notes.isEmpty)
        #expect(v1.report().problems.contains { $0.contains("no VMCOREINFO") })
        #expect(try v1.readPhysical(0x2000, count: 4096) == Self.page(2))
    }

    @Test func flattenedReadsIdentically() throws {
        let dir = TempDir()
        let plain = Self.sampleBuilder().build()
        let flatPath = dir.write("vmcore.kdump-flat", flatten(plain))
        let flat = try FlattenedFile(source: FileSource(path: flatPath))
        #expect(flat.logicalSize == UInt64(plain.count))
        #expect(flat.hasEndMarker)
        #expect(flat.overwrittenRecords >= 1)
        // the reassembled bytes, holes included, equal the plain file
        var whole = [UInt8](repeating: 0xff, count: plain.count)
        try whole.withUnsafeMutableBytes { try flat.read(at: 0, into: $0) }
        #expect(whole == plain)
        for (offset, count) in [(0, 8), (995, 10), (4090, 3000), (plain.count - 7, 7)] {
            var part = [UInt8](repeating: 0xff, count: count)
            try part.withUnsafeMutableBytes { try flat.read(at: UInt64(offset), into: $0) }
            #expect(part == Array(plain[offset..<(offset + count)]), "at \(offset)")
        }
        #expect(throws: FormatError.self) {
            var past = [UInt8](repeating: 0, count: 8)
            try past.withUnsafeMutableBytes { try flat.read(at: UInt64(plain.count - 4), into: $0) }
        }

        let image = try ImageOpener.open(flatPath)
        #expect(image.formatName == "kdump-compressed (flattened)")
        let reference = try ImageOpener.open(dir.write("plain", plain))
        #expect(image.physicalRanges == reference.physicalRanges)
        #expect(image.vmcoreInfo == reference.vmcoreInfo)
        #expect(try image.readPhysical(0, count: 0x6000) == reference.readPhysical(0, count: 0x6000))
        #expect(try image.readPhysical(0x8000, count: 0x2000) == reference.readPhysical(0x8000, count: 0x2000))
        #expect(throws: MemoryError.pageExcluded(address: 0x6000, image: flatPath)) { try image.readPhysical(0x6000, count: 1) }
        #expect(image.report().facts.contains { $0.0 == "flattened records" })

        // a stream that stops after a whole record without the end marker still opens
        let unended = try ImageOpener.open(dir.write("unended", flatten(plain, chunk: 4096, seed: 3, endMarker: false)))
        #expect(try unended.readPhysical(0x3000, count: 4096) == Self.page(3))
        #expect(unended.report().problems.contains { $0.contains("end marker") })
    }

    @Test func overlappingRecordsLaterWins() {
        typealias S = FlattenedFile.Segment
        let records = [S(start: 0, size: 100, fileOffset: 1000), S(start: 50, size: 100, fileOffset: 2000),
                       S(start: 20, size: 10, fileOffset: 3000), S(start: 200, size: 10, fileOffset: 4000)]
        let (segments, overwritten) = FlattenedFile.resolve(records)
        #expect(segments.map { [$0.start, $0.size, $0.fileOffset] } == [
            [0, 20, 1000], [20, 10, 3000], [30, 20, 1030], [50, 100, 2000], [200, 10, 4000],
        ])
        #expect(overwritten == 1)
        // many records, no overlap: no quadratic path
        let many = (0..<200_000).map { S(start: UInt64($0) * 16, size: 16, fileOffset: UInt64($0) * 32) }.reversed()
        let (flatSegments, none) = FlattenedFile.resolve(Array(many))
        #expect(flatSegments.count == 200_000 && none == 0 && flatSegments.first?.start == 0)
    }

    @Test func truncatedHeaderIsAnError() throws {
        let dir = TempDir()
        let good = Self.sampleBuilder().build()
        do {
            _ = try ImageOpener.open(dir.write("short", Array(good[0..<100])))
            Issue.record("expected an error")
        } catch let e as FormatError {
            #expect(e.kind == .truncated)
            #expect(e.message.contains("kdump header"))
        }
        // the header is whole but the sub-header block is missing
        do {
            _ = try ImageOpener.open(dir.write("nosub", Array(good[0..<4096])))
            Issue.record("expected an error")
        } catch let e as FormatError {
            #expect(e.kind == .truncated)
            #expect(e.offset == 4096)
            #expect(e.message.contains("sub-header"))
        }
        // cut before the bitmaps
        do {
            _ = try ImageOpener.open(dir.write("nobitmap", Array(good[0..<8192])))
            Issue.record("expected an error")
        } catch let e as FormatError {
            #expect(e.kind == .truncated)
            #expect(e.message.contains("bitmaps"))
        }
        // a nonsense block size
        var bad = good
        bad[428] = 0x13
        #expect(throws: FormatError.self) { try ImageOpener.open(dir.write("bs", bad)) }
    }

    @Test func truncatedPageDataIsReportedOnRead() throws {
        let dir = TempDir()
        let (good, layout) = Self.sampleBuilder().buildWithLayout()
        // keep the descriptors but cut the page data short
        let cut = Array(good[0..<(layout.descriptorTable + 24 * 8 + 10)])
        let path = dir.write("cut", cut)
        let image = try ImageOpener.open(path)
        do {
            _ = try image.readPhysical(0x9000, count: 8)
            Issue.record("expected an error")
        } catch let e as MemoryError {
            guard case let .corrupt(address, detail) = e else { Issue.record("wrong error \(e)"); return }
            #expect(address == 0x9000)
            #expect(detail.contains("pfn 0x9") && detail.contains(hex(layout.descriptorOffset(9))))
        }
        // cut inside the descriptor table: reported at open, an error on read
        let cut2 = Array(good[0..<(layout.descriptorTable + 24 * 3)])
        let image2 = try ImageOpener.open(dir.write("cut2", cut2))
        #expect(image2.report().problems.contains { $0.contains("descriptor table") })
        #expect(throws: MemoryError.self) { try image2.readPhysical(0x8000, count: 1) }
    }

    /// Opens a dump whose pfn 2 has the given descriptor and returns the
    /// error reading it, checking it names the pfn and the descriptor offset.
    func corruptDetail(_ page: KdumpPage, _ name: String) throws -> String {
        let dir = TempDir()
        var b = Self.sampleBuilder()
        b.pages[2] = page
        let (bytes, layout) = b.buildWithLayout()
        let image = try ImageOpener.open(dir.write(name, bytes))
        // neighbours still read
        #expect(try image.readPhysical(0x1000, count: 4096) == Self.page(1))
        #expect(try image.readPhysical(0x3000, count: 4096) == Self.page(3))
        do {
            _ = try image.readPhysical(0x2010, count: 16)
            Issue.record("expected an error for \(name)")
            return ""
        } catch let e as MemoryError {
            guard case let .corrupt(address, detail) = e else {
                Issue.record("wrong error \(e) for \(name)")
                return ""
            }
            #expect(address == 0x2010)
            #expect(detail.contains("pfn 0x2"), "\(name): \(detail)")
            #expect(detail.contains("offset \(hex(layout.descriptorOffset(2)))"), "\(name): \(detail)")
            return detail
        }
    }

    @Test func corruptDescriptorsAreErrors() throws {
        let pastEOF = try corruptDetail(.custom(offset: 1 << 40, size: 100, flags: 1, data: []), "past-eof")
        #expect(pastEOF.contains("outside the dump"))
        let negative = try corruptDetail(.custom(offset: -5, size: 100, flags: 1, data: []), "negative")
        #expect(negative.contains("outside the dump"))
        let tooBig = try corruptDetail(.custom(offset: nil, size: 5000, flags: 1, data: pseudoRandomBytes(5000, seed: 9)), "too-big")
        #expect(tooBig.contains("larger than the block size"))
        let rawSize = try corruptDetail(.custom(offset: nil, size: 100, flags: 0, data: pseudoRandomBytes(100, seed: 9)), "raw-size")
        #expect(rawSize.contains("uncompressed"))
        let unknown = try corruptDetail(.custom(offset: nil, size: 100, flags: 0x40, data: pseudoRandomBytes(100, seed: 9)), "flags")
        #expect(unknown.contains("unknown flags 0x40"))
        for (flags, method) in [(UInt32(1), "zlib"), (2, "lzo"), (4, "snappy"), (0x20, "zstd")] {
            let garbage = try corruptDetail(.custom(offset: nil, size: 300, flags: flags, data: pseudoRandomBytes(300, seed: 5)), "garbage-\(method)")
            #expect(garbage.contains("\(method) decompression failed"), "\(garbage)")
        }
        // valid data of the wrong length
        let short = Compress.zstd([UInt8](repeating: 7, count: 100))
        let wrongLength = try corruptDetail(.custom(offset: nil, size: UInt32(short.count), flags: 0x20, data: short), "short")
        #expect(wrongLength.contains("decompresses to 100 bytes"))
        let long = Compress.zlib([UInt8](repeating: 7, count: 8192))
        let tooLong = try corruptDetail(.custom(offset: nil, size: UInt32(long.count), flags: 1, data: long), "long")
        #expect(tooLong.contains("zlib decompression failed"))
    }

    @Test func truncatedFlattenedRecordIsAnError() throws {
        let dir = TempDir()
        func be(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        var head = Array("makedumpfile".utf8) + [0, 0, 0, 0] + be(1) + be(1)
        KdumpBuilder.pad(&head, to: 4096)
        let good = head + be(0) + be(16) + [UInt8](repeating: 1, count: 16)
        let path = dir.write("flat", good + be(4096) + be(10000) + [UInt8](repeating: 2, count: 100))
        do {
            _ = try FlattenedFile(source: FileSource(path: path))
            Issue.record("expected an error")
        } catch let e as FormatError {
            #expect(e.kind == .truncated)
            #expect(e.offset == 4096 + 32)
            #expect(e.message.contains("10000") && e.message.contains("0x1000"))
        }
        // a record header cut in half
        let half = dir.write("half", good + be(4096))
        #expect(throws: FormatError.self) { try FlattenedFile(source: FileSource(path: half)) }
        // negative size
        let negative = dir.write("neg", good + be(0) + be(-5))
        #expect(throws: FormatError.self) { try FlattenedFile(source: FileSource(path: negative)) }
        // shorter than the flattened header
        #expect(throws: FormatError.self) { try ImageOpener.open(dir.write("tiny", Array(head[0..<100]))) }
        // wrong type
        var wrongType = head
        wrongType[23] = 2
        #expect(throws: FormatError.self) { try FlattenedFile(source: FileSource(path: dir.write("type", wrongType))) }
        // a flattened stream of a truncated kdump
        let truncatedKdump = dir.write("flat-short", flatten(Array(Self.sampleBuilder().build()[0..<4096]), chunk: 4096))
        #expect(throws: FormatError.self) { try ImageOpener.open(truncatedKdump) }
    }
}
