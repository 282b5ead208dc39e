import Foundation

/// Writes small ELF64 core files for tests: a PT_NOTE with the given notes,
/// then PT_LOADs with the given contents.
struct ElfCoreBuilder {
    struct Load {
        var vaddr: UInt64
        var paddr: UInt64
        var data: [UInt8]
        var memsz: UInt64? = nil
    }

    var type: UInt16 = 4
    var machine: UInt16 = 62
    var notes: [(name: String, type: UInt32, desc: [UInt8])] = []
    var loads: [Load] = []

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    static func note(_ name: String, _ type: UInt32, _ desc: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        let nameBytes = Array(name.utf8) + [0]
        b += le(UInt32(nameBytes.count)) + le(UInt32(desc.count)) + le(type)
        b += nameBytes + [UInt8](repeating: 0, count: (4 - nameBytes.count % 4) % 4)
        b += desc + [UInt8](repeating: 0, count: (4 - desc.count % 4) % 4)
        return b
    }

    func build() -> [UInt8] {
        let noteBlob = notes.flatMap { Self.note($0.name, $0.type, $0.desc) }
        let phnum = 1 + loads.count
        var offset = UInt64(64 + 56 * phnum)
        var phdrs: [UInt8] = []
        func phdr(_ type: UInt32, _ off: UInt64, _ vaddr: UInt64, _ paddr: UInt64, _ filesz: UInt64, _ memsz: UInt64) -> [UInt8] {
            Self.le(type) + Self.le(UInt32(0)) + Self.le(off) + Self.le(vaddr) + Self.le(paddr)
                + Self.le(filesz) + Self.le(memsz) + Self.le(UInt64(0))
        }
        phdrs += phdr(4, offset, 0, 0, UInt64(noteBlob.count), 0)
        offset += UInt64(noteBlob.count)
        var body = noteBlob
        for l in loads {
            phdrs += phdr(1, offset, l.vaddr, l.paddr, UInt64(l.data.count), l.memsz ?? UInt64(l.data.count))
            offset += UInt64(l.data.count)
            body += l.data
        }
        var h: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        h += Self.le(type) + Self.le(machine) + Self.le(UInt32(1)) + Self.le(UInt64(0))
        h += Self.le(UInt64(64)) + Self.le(UInt64(0)) + Self.le(UInt32(0))
        h += Self.le(UInt16(64)) + Self.le(UInt16(56)) + Self.le(UInt16(phnum))
        h += Self.le(UInt16(64)) + Self.le(UInt16(0)) + Self.le(UInt16(0))
        return h + phdrs + body
    }
}

/// A temporary directory removed when the test ends.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "mkdbg-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
}

/// Deterministic pseudo-random bytes (xorshift), so fixtures are repeatable.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}
