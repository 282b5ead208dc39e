#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an `ElfCoreWriter` puts its bytes: writes at file offsets (in any
/// order, with gaps), then the file's final size, so that gaps, including
/// a trailing one, stay holes in a sparse file.
public protocol CoreOutput: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    func finish(size: UInt64) throws
}

/// Writes a standard ELF64 `ET_CORE` vmcore, laid out as QEMU's
/// `dump-guest-memory` writes one: one `PT_NOTE` holding the given notes (VMCOREINFO,
/// `CORE`/`NT_PRSTATUS`, ...), then one `PT_LOAD` per physical range with
/// `p_paddr` the physical address, `p_vaddr` 0 (readers translate virtual
/// addresses through VMCOREINFO and the page tables), `p_filesz == p_memsz`
/// and `p_offset` congruent to `p_paddr` modulo the page size.
///
/// The memory comes from a page-reading closure, a chunk at a time, so
/// nothing close to the image's size is ever held in memory. Pages that are
/// all zeros are not written: the output seeks over them and they read back
/// as zeros (a sparse file).
public struct ElfCoreWriter {
    /// A physical range to save as one `PT_LOAD`.
    public struct Load: Equatable, Sendable {
        public var physicalAddress: UInt64
        public var size: UInt64

        public init(physicalAddress: UInt64, size: UInt64) {
            self.physicalAddress = physicalAddress
            self.size = size
        }

        public var end: UInt64 { physicalAddress &+ size }
    }

    /// Where everything goes in the file.
    public struct Layout: Equatable, Sendable {
        /// ELF header, program headers (and the section header that carries
        /// the real count under `PN_XNUM`) and the notes, from offset 0.
        public var head: [UInt8]
        /// `p_offset` of each load, in order.
        public var loadOffsets: [UInt64]
        /// The file's size (apparent size, holes included).
        public var fileSize: UInt64
    }

    /// What a write did.
    public struct Result: Equatable, Sendable {
        public var fileSize: UInt64
        /// Bytes of memory read from the source.
        public var memoryBytes: UInt64
        /// Pages written (not all zeros) and pages left as holes.
        public var pagesWritten: UInt64
        public var zeroPages: UInt64
    }

    public static let pageSize = 4096
    /// Bytes read from the source per call.
    public static let chunkSize = 1 << 20
    static let ehdrSize = 64
    static let phdrSize = 56
    static let shdrSize = 64
    static let pnXnum = 0xffff

    public let notes: [ElfNote]
    public let loads: [Load]
    /// `e_machine` written: the source image's (nil: it did not say, x86-64 as before).
    public let machine: UInt16

    /// `loads` must be non-empty ranges, sorted and not overlapping.
    public init(notes: [ElfNote], loads: [Load], machine: UInt16? = nil) throws {
        self.machine = machine ?? ElfHeader.emX86_64
        var previousEnd: UInt64 = 0
        for (i, l) in loads.enumerated() {
            guard l.size > 0, checkedAdd(l.physicalAddress, l.size) != nil else {
                throw FormatError(.unsupported, file: "ELF core", "physical range \(i) (\(hex(l.physicalAddress)) + \(hex(l.size))) is empty or wraps around")
            }
            guard i == 0 || l.physicalAddress >= previousEnd else {
                throw FormatError(.unsupported, file: "ELF core", "physical range \(hex(l.physicalAddress))-\(hex(l.end)) overlaps or precedes the one before it")
            }
            previousEnd = l.end
        }
        for n in notes where n.name.utf8.count >= UInt32.max - 1 || n.descriptor.count > Int(UInt32.max) {
            throw FormatError(.unsupported, file: "ELF core", "note \(n.name) is too large")
        }
        self.notes = notes
        self.loads = loads
    }

    // MARK: layout

    static func le<T: FixedWidthInteger>(_ v: T, into out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func pad4(_ out: inout [UInt8]) {
        while out.count % 4 != 0 { out.append(0) }
    }

    /// The notes as one `PT_NOTE` body: each note's name NUL-terminated and
    /// both name and descriptor padded to 4 bytes.
    public static func noteBytes(_ notes: [ElfNote]) -> [UInt8] {
        var out: [UInt8] = []
        for n in notes {
            let name = Array(n.name.utf8) + [0]
            le(UInt32(name.count), into: &out)
            le(UInt32(n.descriptor.count), into: &out)
            le(n.type, into: &out)
            out += name
            pad4(&out)
            out += n.descriptor
            pad4(&out)
        }
        return out
    }

    public func layout() -> Layout {
        let page = UInt64(Self.pageSize)
        let phnum = 1 + loads.count
        let xnum = phnum >= Self.pnXnum
        let phoff = UInt64(Self.ehdrSize)
        let shoff = xnum ? phoff + UInt64(phnum * Self.phdrSize) : 0
        let noteOffset = (xnum ? shoff + UInt64(Self.shdrSize) : phoff + UInt64(phnum * Self.phdrSize))
        let noteBody = Self.noteBytes(notes)

        var offsets: [UInt64] = []
        var cursor = noteOffset + UInt64(noteBody.count)
        for l in loads {
            // Next page boundary, plus the range's offset within its page, so
            // file pages and physical pages coincide.
            let within = l.physicalAddress % page
            var at = (cursor + page - 1) / page * page + within
            if at < cursor { at += page }
            offsets.append(at)
            cursor = at + l.size
        }

        var h: [UInt8] = []
        h.reserveCapacity(Int(noteOffset) + noteBody.count)
        // e_ident: ELF64, little-endian, version 1, System V ABI.
        h += [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        Self.le(ElfHeader.etCore, into: &h)
        Self.le(machine, into: &h)
        Self.le(UInt32(1), into: &h)             // e_version
        Self.le(UInt64(0), into: &h)             // e_entry
        Self.le(phoff, into: &h)                 // e_phoff
        Self.le(shoff, into: &h)                 // e_shoff
        Self.le(UInt32(0), into: &h)             // e_flags
        Self.le(UInt16(Self.ehdrSize), into: &h)
        Self.le(UInt16(Self.phdrSize), into: &h)
        Self.le(UInt16(xnum ? Self.pnXnum : phnum), into: &h)
        Self.le(UInt16(xnum ? Self.shdrSize : 0), into: &h)
        Self.le(UInt16(xnum ? 1 : 0), into: &h)  // e_shnum
        Self.le(UInt16(0), into: &h)             // e_shstrndx

        func phdr(_ type: UInt32, _ flags: UInt32, _ offset: UInt64, _ paddr: UInt64, _ size: UInt64, _ align: UInt64) {
            Self.le(type, into: &h)
            Self.le(flags, into: &h)
            Self.le(offset, into: &h)
            Self.le(UInt64(0), into: &h)         // p_vaddr
            Self.le(paddr, into: &h)
            Self.le(size, into: &h)              // p_filesz
            Self.le(size, into: &h)              // p_memsz
            Self.le(align, into: &h)
        }
        phdr(ProgramHeader.ptNote, 0, noteOffset, 0, UInt64(noteBody.count), 0)
        for (l, off) in zip(loads, offsets) {
            phdr(ProgramHeader.ptLoad, 7, off, l.physicalAddress, l.size, 0)  // PF_R|PF_W|PF_X
        }
        if xnum {
            // Section header 0 carries the real program header count in sh_info.
            var sh = [UInt8](repeating: 0, count: Self.shdrSize)
            withUnsafeBytes(of: UInt32(phnum).littleEndian) { sh.replaceSubrange(44..<48, with: $0) }
            h += sh
        }
        h += noteBody
        return Layout(head: h, loadOffsets: offsets, fileSize: cursor)
    }

    // MARK: writing

    /// Writes the core to `output`, reading memory with `readPhysical`
    /// (which fills the buffer with the bytes at the physical address, or
    /// throws naming the first address it cannot read). `progress` is told
    /// the memory bytes done so far after every chunk.
    @discardableResult
    public func write(to output: CoreOutput,
                      readPhysical: (UInt64, UnsafeMutableRawBufferPointer) throws -> Void,
                      progress: ((UInt64) -> Void)? = nil) throws -> Result {
        let layout = layout()
        try layout.head.withUnsafeBytes { try output.write($0, at: 0) }
        let page = Self.pageSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: page)
        defer { buffer.deallocate() }
        let zero = UnsafeMutableRawBufferPointer.allocate(byteCount: page, alignment: page)
        defer { zero.deallocate() }
        zero.initializeMemory(as: UInt8.self, repeating: 0)

        var result = Result(fileSize: layout.fileSize, memoryBytes: 0, pagesWritten: 0, zeroPages: 0)
        for (l, fileOffset) in zip(loads, layout.loadOffsets) {
            var done: UInt64 = 0
            while done < l.size {
                // Chunks end on page boundaries of the file (and of memory).
                let at = l.physicalAddress + done
                let firstPageRest = UInt64(page) - at % UInt64(page)
                let want = min(l.size - done, UInt64(Self.chunkSize) - (UInt64(page) - firstPageRest))
                let n = Int(want)
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                try Cancellation.check()
                try readPhysical(at, chunk)

                // Write runs of pages that are not all zeros; seek over the rest.
                var runStart: Int? = nil
                var i = 0
                func flush(_ end: Int) throws {
                    guard let s = runStart else { return }
                    try output.write(UnsafeRawBufferPointer(rebasing: chunk[s..<end]), at: fileOffset + done + UInt64(s))
                    runStart = nil
                }
                while i < n {
                    let pageEnd = i == 0 ? min(n, Int(firstPageRest)) : min(n, i + page)
                    let len = pageEnd - i
                    let isZero = memcmp(chunk.baseAddress! + i, zero.baseAddress!, len) == 0
                    if isZero {
                        try flush(i)
                        result.zeroPages += 1
                    } else {
                        if runStart == nil { runStart = i }
                        result.pagesWritten += 1
                    }
                    i = pageEnd
                }
                try flush(n)
                done += want
                result.memoryBytes += want
                progress?(result.memoryBytes)
            }
        }
        try output.finish(size: layout.fileSize)
        return result
    }
}
