#if canImport(Glibc)
import Glibc
#endif

/// The names one index scan found, each interned once, with the first DIE
/// offset per kind. Name bytes stay in the mapped sections (no String per
/// DIE); `.debug_str` offsets map to names through a flat table, other
/// names through an open-addressing table with a cheap hash (names are
/// short and hashed once per DIE, where SipHash would dominate the scan).
struct ScannedNames {
    struct Key {
        let start: UnsafePointer<UInt8>
        let length: Int

        @inline(__always)
        var hash: UInt64 {
            var h: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(length)
            let raw = UnsafeRawPointer(start)
            var i = 0
            while i + 8 <= length {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
                h ^= h >> 29
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < length {
                tail |= UInt64(start[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0xc4ce_b9fe_1a85_ec53
            return h ^ (h >> 32)
        }

        @inline(__always)
        func equals(_ other: Key) -> Bool {
            length == other.length && memcmp(start, other.start, length) == 0
        }
    }

    /// `.debug_str` offset → name id + 1, calloc'd so untouched pages cost nothing.
    final class OffsetTable {
        let pointer: UnsafeMutablePointer<Int32>?
        let count: Int
        init(count: Int) {
            self.count = count
            pointer = count > 0 ? calloc(count, MemoryLayout<Int32>.stride)?.assumingMemoryBound(to: Int32.self) : nil
        }
        deinit { free(pointer) }
    }

    /// Per name: slot 0 holds a variable seen only as a declaration, slots
    /// 1...8 the first offset of each `IndexKind`; 0 means none.
    static let slotsPerName = 9
    /// A kernel has about 200,000 distinct names; hostile DWARF gets no more
    /// than this many (each costs ~100 bytes here).
    static let maxNames = 4_000_000

    private(set) var keys: [Key] = []
    private var hashes: [UInt64] = []
    private(set) var slots: [UInt64] = []
    /// Open addressing: id + 1, 0 when free; capacity a power of two.
    private var buckets: [Int32]
    private var mask: Int
    private let byStrOffset: OffsetTable

    init(strCount: Int) {
        byStrOffset = OffsetTable(count: strCount)
        buckets = [Int32](repeating: 0, count: 1 << 16)
        mask = (1 << 16) - 1
        keys.reserveCapacity(1 << 15)
    }

    var count: Int { keys.count }

    /// The id of the name with these bytes, added when new.
    @inline(__always)
    mutating func intern(_ key: Key) throws -> Int {
        let h = key.hash
        var b = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = buckets[b]
            if v == 0 { break }
            let id = Int(v) - 1
            if hashes[id] == h && keys[id].equals(key) { return id }
            b = (b + 1) & mask
        }
        let id = keys.count
        guard id < Self.maxNames else {
            throw DwarfScanError(offset: 0, section: ".debug_info", problem: "more than \(Self.maxNames) distinct names")
        }
        keys.append(key)
        hashes.append(h)
        slots.append(contentsOf: repeatElement(0, count: Self.slotsPerName))
        buckets[b] = Int32(id + 1)
        if keys.count * 2 > buckets.count { grow() }
        return id
    }

    private mutating func grow() {
        let capacity = buckets.count * 2
        buckets = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        for id in 0..<keys.count {
            var b = Int(truncatingIfNeeded: hashes[id]) & mask
            while buckets[b] != 0 { b = (b + 1) & mask }
            buckets[b] = Int32(id + 1)
        }
    }

    /// The id of the `.debug_str` string at `offset` (`base` is the section).
    @inline(__always)
    mutating func intern(strOffset offset: Int, base: UnsafePointer<UInt8>) throws -> Int {
        guard offset >= 0, offset < byStrOffset.count, let table = byStrOffset.pointer else {
            throw DwarfScanError(offset: offset, section: ".debug_str", problem: "string offset past the end")
        }
        let known = table[offset]
        if known != 0 { return Int(known) - 1 }
        guard let n = DwarfCursor.stringLength(base, byStrOffset.count, offset) else {
            throw DwarfScanError(offset: offset, section: ".debug_str", problem: "string without a terminating NUL")
        }
        let id = try intern(Key(start: base + offset, length: n))
        table[offset] = Int32(id + 1)
        return id
    }

    @inline(__always)
    func slot(_ id: Int, _ kind: Int) -> UInt64 { slots[id * Self.slotsPerName + kind] }

    @inline(__always)
    mutating func setSlot(_ id: Int, _ kind: Int, _ offset: UInt64) { slots[id * Self.slotsPerName + kind] = offset }

    /// Takes `other`'s entries where this has none: `other` scanned later units.
    mutating func merge(_ other: ScannedNames) throws {
        for id in 0..<other.count {
            let base = id * Self.slotsPerName
            var any = false
            for k in 0..<Self.slotsPerName where other.slots[base + k] != 0 { any = true }
            guard any else { continue }
            let mine = try intern(other.keys[id])
            for k in 0..<Self.slotsPerName where slot(mine, k) == 0 { setSlot(mine, k, other.slots[base + k]) }
        }
    }

    /// Declared-only variables become entries when no definition turned up.
    mutating func finish() {
        let variable = Int(IndexKind.variable.rawValue)
        for id in 0..<count where slot(id, variable) == 0 && slot(id, 0) != 0 {
            setSlot(id, variable, slot(id, 0))
        }
    }

    /// Ids with at least one entry, sorted by name bytes (the index file's order).
    func sortedIds() -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(count)
        for id in 0..<count {
            let base = id * Self.slotsPerName
            for k in 1..<Self.slotsPerName where slots[base + k] != 0 {
                ids.append(id)
                break
            }
        }
        let keys = self.keys
        ids.sort { a, b in
            let ka = keys[a], kb = keys[b]
            let c = memcmp(ka.start, kb.start, min(ka.length, kb.length))
            return c != 0 ? c < 0 : ka.length < kb.length
        }
        return ids
    }
}
