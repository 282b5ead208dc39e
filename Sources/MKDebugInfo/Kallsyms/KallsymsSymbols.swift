import MKMemory

extension SymbolTable {
    /// The largest size given to a symbol from the distance to the next one:
    /// the last per-CPU symbol is followed by the kernel image, far away.
    static let kallsymsMaxSize: UInt64 = 1 << 20

    /// A symbol table from the kernel's own kallsyms: run-time addresses
    /// (no KASLR offset to apply), sizes up to the next symbol's address,
    /// kinds and binding from `nm`'s type letters.
    public static func fromKallsyms(_ table: KallsymsTable, space: KernelSpace) throws -> SymbolTable {
        // A section marker (__irqentry_text_start) has no extent: sized 0, the function at its address names it.
        func isMarker(_ i: Int) -> Bool {
            let e = table.symbols[i]
            let start = Int(e.nameOffset), end = start + Int(e.nameLength)
            guard end <= table.names.count, e.nameLength > 2, table.names[start] == 0x5f else { return false }
            let name = String(decoding: table.names[start..<end], as: UTF8.self)
            if ["_text", "_stext", "_etext", "_sinittext", "_einittext"].contains(name) { return true }
            return name.hasPrefix("__") && (name.hasSuffix("_start") || name.hasSuffix("_end") || name.hasPrefix("__start_") || name.hasPrefix("__stop_"))
        }
        let order = table.symbols.indices.sorted { table.symbols[$0].address < table.symbols[$1].address }
        var compact: [SymbolFile.CompactSymbol] = []
        compact.reserveCapacity(order.count)
        var next = 0
        for (i, index) in order.enumerated() {
            let e = table.symbols[index]
            if next <= i { next = i + 1 }
            while next < order.count, table.symbols[order[next]].address == e.address { next += 1 }
            let size = next < order.count && !isMarker(index) ? min(table.symbols[order[next]].address - e.address, kallsymsMaxSize) : 0
            let upper = e.type >= 0x41 && e.type <= 0x5a
            let kind: UInt8
            switch e.type | 0x20 {  // the lowercase letter
            case 0x74, 0x77: kind = 1  // t w: functions
            case 0x64, 0x62, 0x72, 0x76, 0x67, 0x73: kind = 2  // d b r v g s: objects
            default: kind = 0
            }
            guard e.nameLength > 0 else { continue }
            compact.append(SymbolFile.CompactSymbol(value: e.address, size: size, nameOffset: e.nameOffset,
                                                    nameLength: e.nameLength, flags: kind | (upper ? 4 : 0)))
        }
        let bytes = SymbolFile.encode(compact, names: table.names, buildId: "kallsyms", vmlinuxSize: 0)
        let file = try SymbolFile.validate(bytes, path: "kallsyms", buildId: "kallsyms", vmlinuxSize: 0)
        return SymbolTable(file: file, kaslrOffset: 0, space: space)
    }
}
