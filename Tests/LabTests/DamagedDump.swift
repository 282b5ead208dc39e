import Foundation
import MKFormat
import MKMemory
import MKDebugInfo
#if canImport(Glibc)
import Glibc
#endif

/// A sparse copy of a lab ELF dump, for damaging: writes go to the copy's
/// `PT_LOAD` data, found through mkdbg's own translation of the original.
/// The copy (and its directory) go away with `remove()`.
final class DamagedDump {
    let directory: String
    let path: String
    /// The original dump, for translation and reads.
    let target: Target
    let core: ElfCore

    init(_ fx: LabFixture, name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mkdbg-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/vmcore.elf"
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["--reflink=auto", "--sparse=always", fx.elf, path]
        try cp.run()
        cp.waitUntilExit()
        guard cp.terminationStatus == 0 else { throw FixtureError("cp \(fx.elf) \(path) failed") }
        target = try fx.target()
        guard let core = target.image as? ElfCore else { throw FixtureError("\(fx.elf) is not an ELF core") }
        self.core = core
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The copy's file offset holding `count` bytes at virtual address `va` (one PT_LOAD).
    func fileOffset(ofVirtual va: UInt64, count: Int) throws -> UInt64 {
        let physical = try target.memory.translate(va).physical
        guard let load = core.programHeaders.first(where: {
            $0.type == ProgramHeader.ptLoad && physical >= $0.physicalAddress
                && physical - $0.physicalAddress + UInt64(count) <= $0.fileSize
        }) else { throw FixtureError("no PT_LOAD holds \(count) bytes at physical \(String(physical, radix: 16))") }
        return load.offset + (physical - load.physicalAddress)
    }

    func write(_ bytes: [UInt8], atVirtual va: UInt64) throws {
        let offset = try fileOffset(ofVirtual: va, count: bytes.count)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        handle.write(Data(bytes))
    }

    func write(_ value: UInt64, atVirtual va: UInt64) throws {
        try write(Self.le64(value), atVirtual: va)
    }

    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// Linux's lseek whences (Glibc declares them only under _GNU_SOURCE).
    static let seekData: Int32 = 3, seekHole: Int32 = 4

    /// A direct-map address of `count` bytes of physical memory that read as
    /// zero (a hole of the sparse copy inside one PT_LOAD), page aligned.
    func zeroedMemory(count: Int) throws -> UInt64 {
        guard let pageOffset = target.memory.layout?.pageOffsetBase else { throw FixtureError("no page_offset_base") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FixtureError("cannot open \(path)") }
        defer { close(fd) }
        // Highest loads first: free memory tends to be at the top.
        for load in core.programHeaders.filter({ $0.type == ProgramHeader.ptLoad }).sorted(by: { $0.physicalAddress > $1.physicalAddress }) {
            let end = Int64(load.offset + load.fileSize)
            var at = Int64(load.offset)
            while at < end {
                let hole = lseek(fd, off_t(at), Self.seekHole)
                guard hole >= 0, hole < end else { break }
                var data = lseek(fd, off_t(hole), Self.seekData)
                if data < 0 || data > end { data = off_t(end) }
                // Page-aligned in physical memory (a segment's file offset need not be page-aligned).
                let skew = Int64(load.offset) & 4095 - Int64(load.physicalAddress & 4095)
                let start = ((Int64(hole) - skew + 4095) & ~4095) + skew
                if Int64(data) - start >= Int64(count), start >= Int64(load.offset) {
                    return pageOffset &+ load.physicalAddress &+ UInt64(start - Int64(load.offset))
                }
                at = Int64(data)
            }
        }
        throw FixtureError("no \(count) zeroed bytes in \(path)")
    }

    /// Writes a chain of `count` `list_head`s, 16 bytes apart from `base`:
    /// each `next` is the one after it (the last's is `last`), each `prev`
    /// the one before (the first's is `first`): a consistent doubly linked run.
    func writeChain(at base: UInt64, count: Int, prevOfFirst first: UInt64, nextOfLast last: UInt64) throws {
        var bytes = [UInt8](repeating: 0, count: 16 * count)
        bytes.withUnsafeMutableBytes { raw in
            for i in 0..<count {
                let next = i + 1 < count ? base + UInt64(16 * (i + 1)) : last
                let prev = i > 0 ? base + UInt64(16 * (i - 1)) : first
                raw.storeBytes(of: next.littleEndian, toByteOffset: 16 * i, as: UInt64.self)
                raw.storeBytes(of: prev.littleEndian, toByteOffset: 16 * i + 8, as: UInt64.self)
            }
        }
        try write(bytes, atVirtual: base)
    }
}
