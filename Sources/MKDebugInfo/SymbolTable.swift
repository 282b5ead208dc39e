import MKFormat
import MKMemory

/// One kernel symbol at its run-time address.
public struct Symbol: Sendable, Equatable {
    public enum Kind: String, Sendable { case function, object, other }
    public var name: String
    public var address: UInt64
    public var size: UInt64
    public var kind: Kind
    public var isGlobal: Bool
}

/// The vmlinux's ELF symbol table, relocated by the KASLR offset: name to
/// address, and address to `name+offset`. Held as the bytes of a
/// `SymbolFile` (entries sorted by link address, a name-sorted
/// permutation, the names), searched in place: a start that finds the
/// file in the symbol store never builds 150,000 strings.
public final class SymbolTable {
    /// The file's bytes: mapped from the symbol store, or built in memory.
    let storage: IndexBytes
    var bytes: UnsafeRawBufferPointer { storage.buffer }
    public let count: Int
    let entriesStart: Int
    let byNameStart: Int
    let namesStart: Int
    public let kaslrOffset: UInt64
    /// The architecture's kernel space: symbols in its image move with KASLR;
    /// per-CPU symbols sit near zero and do not.
    public let space: KernelSpace

    init(file: SymbolFile.Validated, kaslrOffset: UInt64, space: KernelSpace) {
        self.space = space
        self.storage = file.storage
        self.count = file.count
        self.entriesStart = file.entriesStart
        self.byNameStart = file.byNameStart
        self.namesStart = file.namesStart
        self.kaslrOffset = kaslrOffset
    }

    // MARK: raw access (offsets validated by SymbolFile)

    @inline(__always) private func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    @inline(__always) private func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }

    @inline(__always) private func entry(_ i: Int) -> Int { entriesStart + i * SymbolFile.entrySize }

    @inline(__always) private func linkValue(_ i: Int) -> UInt64 { u64(entry(i)) }

    @inline(__always) private func relocate(_ v: UInt64) -> UInt64 { space.relocate(v, kaslrOffset: kaslrOffset) }

    /// A link-time address (a DWARF location) at run time.
    public func relocated(_ linkAddress: UInt64) -> UInt64 { relocate(linkAddress) }

    private func nameRange(_ i: Int) -> Range<Int> {
        let e = entry(i)
        let start = namesStart + u32(e + 16)
        return start..<(start + Int(bytes[e + 20]) | Int(bytes[e + 21]) << 8)
    }

    func symbol(_ i: Int) -> Symbol {
        let e = entry(i)
        let flags = bytes[e + 22]
        let kind: Symbol.Kind = flags & 3 == 1 ? .function : (flags & 3 == 2 ? .object : .other)
        return Symbol(name: String(decoding: bytes[nameRange(i)], as: UTF8.self), address: relocate(linkValue(i)),
                      size: u64(e + 8), kind: kind, isGlobal: flags & 4 != 0)
    }

    private func compareName(_ i: Int, _ key: [UInt8]) -> Int {
        let r = nameRange(i)
        let n = min(r.count, key.count)
        for j in 0..<n {
            let a = bytes[r.lowerBound + j], b = key[j]
            if a != b { return a < b ? -1 : 1 }
        }
        return r.count - key.count
    }

    private func byName(_ k: Int) -> Int { u32(byNameStart + 4 * k) }

    // MARK: queries

    /// The symbol called `name`; a global definition wins over local ones.
    public func lookup(_ name: String) -> Symbol? {
        let key = Array(name.utf8)
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareName(byName(mid), key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        var best: Int?
        var k = lo
        while k < count, compareName(byName(k), key) == 0 {
            let i = byName(k)
            if best == nil { best = i }
            if bytes[entry(i) + 22] & 4 != 0 { best = i; break }
            k += 1
        }
        return best.map(symbol) ?? derived[name]?.symbol
    }

    /// Addresses the table lacks but the kernel gives another way (VMCOREINFO's
    /// SYMBOL(), or found in memory and checked): a kallsyms without data
    /// symbols (no CONFIG_KALLSYMS_ALL) has no `init_uts_ns`. Looked up after
    /// the table's own; `how` says where each came from.
    public private(set) var derived: [String: (symbol: Symbol, how: String)] = [:]

    /// Adds `name` at `address` unless the table already has it.
    public func addDerived(_ name: String, address: UInt64, size: UInt64 = 0, how: String) {
        guard lookup(name) == nil else { return }
        derived[name] = (Symbol(name: name, address: address, size: size, kind: .object, isGlobal: true), how)
    }

    public func require(_ name: String) throws -> Symbol {
        if let s = lookup(name) { return s }
        throw DebugInfoError.unknownSymbol(name, suggestions: suggestions(for: name))
    }

    /// The symbol containing `address`: the nearest one at or below it,
    /// within its size when it has one (else within 1 MiB, for labels).
    public func symbolize(_ address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        // Per-CPU symbols are offsets, not addresses: never name a small number after one.
        guard space.isKernelAddress(address) else { return nil }
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if relocate(linkValue(mid)) <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        // Among symbols at the same address, the file's order put the best first.
        var i = lo - 1
        let at = linkValue(i)
        while i > 0 && linkValue(i - 1) == at { i -= 1 }
        let s = symbol(i)
        let offset = address - s.address
        if s.size > 0 ? offset < s.size : offset < (1 << 20) {
            return (s, offset)
        }
        return nil
    }

    /// The symbol of a code address that may be a return address: one just past
    /// a function's end (its last instruction a call of a noreturn function, as
    /// panic() calls vpanic()) is named as that function's end, `panic+100`.
    public func symbolizeCode(_ address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        if let hit = symbolize(address) { return hit }
        guard address > 0, let (s, off) = symbolize(address - 1), s.size > 0, off + 1 == s.size else { return nil }
        return (s, s.size)
    }

    /// `name+0xoff`, or nil when no symbol covers the address.
    public func describe(_ address: UInt64) -> String? {
        guard let (s, off) = symbolize(address) else { return nil }
        return off == 0 ? s.name : "\(s.name)+\(hex(off))"
    }

    /// Close names for "did you mean": small edit distance.
    public func suggestions(for name: String, limit: Int = 3) -> [String] {
        guard !name.isEmpty, name.count <= 64 else { return [] }
        let target = Array(name.utf8)
        var scored: [(Int, String)] = []
        var previous: Range<Int>?
        for k in 0..<count {
            let r = nameRange(byName(k))
            guard abs(r.count - target.count) <= 2 else { continue }
            if let p = previous, bytes[p].elementsEqual(bytes[r]) { continue }
            previous = r
            let d = editDistance(Array(bytes[r]), target, limit: 2)
            if d <= 2 { scored.append((d, String(decoding: bytes[r], as: UTF8.self))) }
        }
        scored.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return scored.prefix(limit).map { $0.1 }
    }

    /// Symbol names starting with `prefix` (for completion), at most `limit`.
    public func names(withPrefix prefix: String, limit: Int = 1000) -> [String] {
        let key = Array(prefix.utf8)
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareName(byName(mid), key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        var result: [String] = []
        var k = lo
        while k < count, result.count < limit {
            let r = nameRange(byName(k))
            guard r.count >= key.count, bytes[r.lowerBound..<(r.lowerBound + key.count)].elementsEqual(key) else { break }
            let name = String(decoding: bytes[r], as: UTF8.self)
            if result.last != name { result.append(name) }
            k += 1
        }
        return result
    }
}

/// Levenshtein distance of two names, giving up once it exceeds `limit`.
public func editDistance(_ a: String, _ b: String, limit: Int = 2) -> Int {
    editDistance(Array(a.utf8), Array(b.utf8), limit: limit)
}

/// Levenshtein distance, giving up (returning limit+1) once it exceeds `limit`.
func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        var rowMin = cur[0]
        for j in 1...b.count {
            cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            rowMin = Swift.min(rowMin, cur[j])
        }
        if rowMin > limit { return limit + 1 }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
