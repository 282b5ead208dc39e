import MKFormat
import MKSystem

/// Name → DIE offset for every named type, variable, function and
/// enumerator in a vmlinux's DWARF: one entry per (name, kind), the first
/// complete definition found. Held as the bytes of its index file (see
/// `IndexFile`): entries sorted by name and found by binary search, so
/// loading costs a read and a checksum, not a dictionary of 100k strings.
public struct NameIndex: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public var kind: IndexKind
        public var offset: UInt64
    }

    /// The file's bytes: mapped from the symbol store, or a just-built index's.
    let storage: IndexBytes
    var bytes: UnsafeRawBufferPointer { storage.buffer }
    let entriesStart: Int
    let namesStart: Int
    public let count: Int

    /// Wraps bytes `IndexFile.validate` accepted.
    init(storage: IndexBytes, entriesStart: Int, count: Int, namesStart: Int) {
        self.storage = storage
        self.entriesStart = entriesStart
        self.count = count
        self.namesStart = namesStart
    }

    @inline(__always) private func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
    @inline(__always) private func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    /// Name bytes of entry `i` (validated to lie inside the names blob).
    @inline(__always)
    func nameRange(_ i: Int) -> Range<Int> {
        let e = entriesStart + i * IndexFile.entrySize
        let start = namesStart + u32(e)
        return start..<(start + u32(e + 4))
    }

    func kind(_ i: Int) -> IndexKind? { IndexKind(rawValue: bytes[entriesStart + i * IndexFile.entrySize + 8]) }
    func offset(_ i: Int) -> UInt64 { u64(entriesStart + i * IndexFile.entrySize + 16) }
    func name(_ i: Int) -> String { String(decoding: bytes[nameRange(i)], as: UTF8.self) }

    /// Compares entry i's name with `key`: <0, 0, >0.
    @inline(__always)
    private func compare(_ i: Int, _ key: [UInt8]) -> Int {
        let r = nameRange(i)
        let n = min(r.count, key.count)
        for j in 0..<n {
            let a = bytes[r.lowerBound + j], b = key[j]
            if a != b { return a < b ? -1 : 1 }
        }
        return r.count - key.count
    }

    /// First entry whose name is not less than `key`.
    func lowerBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compare(mid, key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func entries(_ name: String) -> [Entry] {
        let key = Array(name.utf8)
        var i = lowerBound(key)
        var result: [Entry] = []
        while i < count, compare(i, key) == 0 {
            if let k = kind(i) { result.append(Entry(kind: k, offset: offset(i))) }
            i += 1
        }
        return result
    }

    public func lookup(_ name: String, _ kind: IndexKind) -> UInt64? {
        entries(name).first { $0.kind == kind }?.offset
    }

    /// Every distinct name with its kinds; `filter` sees the name's byte
    /// length first so most names never become Strings.
    public func forEachName(lengthFilter: (Int) -> Bool = { _ in true }, _ body: (String, [IndexKind]) -> Void) {
        var i = 0
        while i < count {
            let r = nameRange(i)
            var kinds: [IndexKind] = []
            var j = i
            while j < count, nameRange(j) == r {
                if let k = kind(j) { kinds.append(k) }
                j += 1
            }
            if lengthFilter(r.count) { body(String(decoding: bytes[r], as: UTF8.self), kinds) }
            i = j
        }
    }

    /// Names starting with `prefix`, in order, at most `limit` (for completion).
    public func names(withPrefix prefix: String, kinds: Set<IndexKind>? = nil, limit: Int = 1000) -> [String] {
        let key = Array(prefix.utf8)
        var i = lowerBound(key)
        var result: [String] = []
        var last: Range<Int>?
        while i < count, result.count < limit {
            let r = nameRange(i)
            guard r.count >= key.count, bytes[r.lowerBound..<(r.lowerBound + key.count)].elementsEqual(key) else { break }
            if kinds == nil || kind(i).map({ kinds?.contains($0) == true }) == true {
                if last != r {
                    result.append(String(decoding: bytes[r], as: UTF8.self))
                    last = r
                }
            }
            i += 1
        }
        return result
    }
}

/// Bytes an index is read from, alive as long as the index: a mapped file,
/// or an owned copy of bytes built in memory.
final class IndexBytes: @unchecked Sendable {
    let buffer: UnsafeRawBufferPointer
    private let mapping: MappedFile?

    init(mapping: MappedFile) {
        self.mapping = mapping
        buffer = mapping.bytes
    }

    init(copying bytes: [UInt8]) {
        mapping = nil
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        bytes.withUnsafeBytes { src in
            if let from = src.baseAddress, let to = p.baseAddress { to.copyMemory(from: from, byteCount: src.count) }
        }
        buffer = UnsafeRawBufferPointer(start: p.baseAddress, count: bytes.count)
    }

    deinit {
        if mapping == nil, let base = buffer.baseAddress { base.deallocate() }
    }
}
