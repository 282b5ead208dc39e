import MKMemory

extension SymbolTable {
    /// The largest size given to a symbol from the distance to the next one:
    /// the last per-CPU symbol is followed by the kernel image, far away.
    static let kallsymsMaxSize: UInt64 = 1 << 20

    /// A symbol table from the kernel's own kallsyms: run-time addresses
    /// (no KASLR offset to apply), sizes up to the next symbol's address,
    /// kinds and binding from `nm`'s type letters.
    public static func fromKallsyms(_ entries: [KallsymsEntry], space: KernelSpace) throws -> SymbolTable {
        let sorted = entries.sorted { $0.address < $1.address }
        var raw: [RawSymbol] = []
        raw.reserveCapacity(sorted.count)
        var next = 0
        for (i, e) in sorted.enumerated() {
            if next <= i { next = i + 1 }
            while next < sorted.count, sorted[next].address == e.address { next += 1 }
            let size = next < sorted.count ? min(sorted[next].address - e.address, kallsymsMaxSize) : 0
            let letter = e.type.lowercased()
            let type: UInt8
            switch letter {
            case "t", "w": type = RawSymbol.typeFunc
            case "d", "b", "r", "v", "g", "s": type = RawSymbol.typeObject
            default: type = 0
            }
            raw.append(RawSymbol(name: e.name, value: e.address, size: size, type: type,
                                 binding: e.type.isUppercase ? 1 : 0, section: 1))
        }
        let bytes = SymbolFile.encode(raw, buildId: "kallsyms", vmlinuxSize: 0, imageBase: 0)
        let file = try SymbolFile.validate(bytes, path: "kallsyms", buildId: "kallsyms", vmlinuxSize: 0)
        return SymbolTable(file: file, kaslrOffset: 0, space: space)
    }
}
