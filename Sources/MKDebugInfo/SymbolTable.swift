import MKFormat

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
/// address, and address to `name+offset`.
public final class SymbolTable {
    public let byAddress: [Symbol]
    private let byName: [String: Int]
    public let kaslrOffset: UInt64

    /// Addresses at or above this belong to the kernel image and move with
    /// KASLR; per-CPU symbols sit near zero and do not.
    static let relocatableFloor: UInt64 = 0xffff_ffff_8000_0000
    static let kernelHalf: UInt64 = 0xffff_8000_0000_0000

    init(raw: [RawSymbol], kaslrOffset: UInt64) {
        self.kaslrOffset = kaslrOffset
        var symbols: [Symbol] = []
        symbols.reserveCapacity(raw.count)
        for r in raw where !r.name.isEmpty && r.type != RawSymbol.typeSection && r.type != RawSymbol.typeFile {
            // Absolute symbols (SHN_ABS) are constants, not addresses in the image.
            if r.section == 0xfff1 && r.value < Self.relocatableFloor { continue }
            let address = r.value >= Self.relocatableFloor ? r.value &+ kaslrOffset : r.value
            let kind: Symbol.Kind = r.type == RawSymbol.typeFunc ? .function : (r.type == RawSymbol.typeObject ? .object : .other)
            symbols.append(Symbol(name: r.name, address: address, size: r.size, kind: kind, isGlobal: r.binding != 0))
        }
        // For address lookups prefer, at equal addresses, sized and global symbols.
        symbols.sort {
            if $0.address != $1.address { return $0.address < $1.address }
            if ($0.size > 0) != ($1.size > 0) { return $0.size > 0 }
            if $0.isGlobal != $1.isGlobal { return $0.isGlobal }
            return $0.name < $1.name
        }
        var byName: [String: Int] = [:]
        byName.reserveCapacity(symbols.count)
        for (i, s) in symbols.enumerated() {
            if let old = byName[s.name] {
                // Keep a global definition over a local one of the same name.
                if !symbols[old].isGlobal && s.isGlobal { byName[s.name] = i }
            } else {
                byName[s.name] = i
            }
        }
        self.byAddress = symbols
        self.byName = byName
    }

    public var count: Int { byAddress.count }

    public func lookup(_ name: String) -> Symbol? {
        byName[name].map { byAddress[$0] }
    }

    public func require(_ name: String) throws -> Symbol {
        if let s = lookup(name) { return s }
        throw DebugInfoError.unknownSymbol(name, suggestions: suggestions(for: name))
    }

    /// The symbol containing `address`: the nearest one at or below it,
    /// within its size when it has one (else within 1 MiB, for labels).
    public func symbolize(_ address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        // Per-CPU symbols are offsets, not addresses: never name a small number after one.
        guard address >= Self.kernelHalf else { return nil }
        var lo = 0, hi = byAddress.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if byAddress[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        // Among symbols at the same address, the sort put the best first.
        var i = lo - 1
        let at = byAddress[i].address
        while i > 0 && byAddress[i - 1].address == at { i -= 1 }
        let s = byAddress[i]
        let offset = address - s.address
        if s.size > 0 ? offset < s.size : offset < (1 << 20) {
            return (s, offset)
        }
        // A sized symbol that ends before `address`: try an enclosing unsized label.
        return nil
    }

    /// `name+0xoff`, or nil when no symbol covers the address.
    public func describe(_ address: UInt64) -> String? {
        guard let (s, off) = symbolize(address) else { return nil }
        return off == 0 ? s.name : "\(s.name)+\(hex(off))"
    }

    /// Close names for "did you mean": shared prefix or small edit distance.
    public func suggestions(for name: String, limit: Int = 3) -> [String] {
        guard !name.isEmpty, name.count <= 64 else { return [] }
        let target = Array(name.utf8)
        var scored: [(Int, String)] = []
        for key in byName.keys where abs(key.utf8.count - target.count) <= 2 {
            let d = editDistance(Array(key.utf8), target, limit: 2)
            if d <= 2 { scored.append((d, key)) }
        }
        scored.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return scored.prefix(limit).map { $0.1 }
    }
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
