import MKFormat
import MKMemory

/// One symbol of the kernel's own table: its run-time address, `nm`'s type
/// letter and its name.
public struct KallsymsEntry: Sendable, Equatable {
    public var name: String
    public var address: UInt64
    public var type: Character
}

/// The kernel's compressed symbol table (CONFIG_KALLSYMS), read from its
/// memory at the addresses VMCOREINFO exports: what stands in for the
/// vmlinux's `.symtab` when no debug package is at hand.
///
/// The format (scripts/kallsyms.c's output): `kallsyms_names` holds, per
/// symbol, a length (one byte, or two when the first has bit 7 set: 6.1's
/// long names) and that many token numbers; `kallsyms_token_index[256]`
/// gives each token's start in the NUL-separated `kallsyms_token_table`.
/// The expansion's first character is the type letter. Addresses are
/// `kallsyms_offsets[i]` against `kallsyms_relative_base`; with
/// KALLSYMS_ABSOLUTE_PERCPU (x86-64 SMP up to 6.14) a non-negative offset is
/// an absolute per-CPU offset and a negative one counts down from the base.
/// kallsyms as read: symbols in the table's order, names in one buffer.
public struct KallsymsTable: Sendable {
    public struct Symbol: Sendable {
        public var address: UInt64
        public var nameOffset: UInt32
        public var nameLength: UInt16
        /// `nm`'s type letter, as a byte
        public var type: UInt8
    }
    public var names: [UInt8] = []
    public var symbols: [Symbol] = []
}

public enum Kallsyms {
    /// More symbols than any kernel has (a 6.12 allyesconfig has ~400,000).
    static let maxSymbols: UInt32 = 4_000_000
    static let maxNamesBytes = 64 << 20
    static let tokenTableSlack = 4096
    /// A name's bytes (KSYM_NAME_LEN is 512 since 6.1) and all names' (a 6.12 kernel's: about 4 MiB).
    static let maxNameBytes = 4096
    static let maxExpandedBytes = 256 << 20

    public static let exportedTables = ["kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table",
                                        "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base"]

    /// Every symbol, in the table's order (ascending address).
    public static func read(memory: KernelMemory, vmcoreInfo: VmcoreInfo, image: String) throws -> [KallsymsEntry] {
        let table = try readTable(memory: memory, vmcoreInfo: vmcoreInfo, image: image)
        return table.symbols.map { s in
            KallsymsEntry(name: String(decoding: table.names[Int(s.nameOffset)..<Int(s.nameOffset) + Int(s.nameLength)], as: UTF8.self),
                          address: s.address, type: Character(Unicode.Scalar(s.type)))
        }
    }

    /// Every symbol, its name bytes in one buffer (no String per symbol).
    public static func readTable(memory: KernelMemory, vmcoreInfo: VmcoreInfo, image: String) throws -> KallsymsTable {
        var at: [String: UInt64] = [:]
        for name in exportedTables {
            guard let a = vmcoreInfo.symbol(name) else { throw KallsymsError.notExported(symbol: name, image: image) }
            at[name] = a
        }
        func address(_ name: String) -> UInt64 { at[name] ?? 0 }
        func read(_ table: String, _ a: UInt64, _ count: Int) throws -> [UInt8] {
            do { return try memory.readVirtual(a, count: count) } catch {
                throw KallsymsError.unreadable(table: table, address: a, reason: "\(error)")
            }
        }
        func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
            UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
        }

        let countBytes = try read("kallsyms_num_syms", address("kallsyms_num_syms"), 4)
        let count = le32(countBytes, 0)
        guard count > 0, count <= maxSymbols else {
            throw KallsymsError.implausible(table: "kallsyms_num_syms", address: address("kallsyms_num_syms"),
                                            detail: "\(count) symbols, expected 1 to \(maxSymbols)")
        }
        let n = Int(count)
        let tokens = try tokenTable(index: try read("kallsyms_token_index", address("kallsyms_token_index"), 512),
                                    tableAddress: address("kallsyms_token_table"), memory: memory)
        // One buffer of all tokens: token t is tokenBytes[tokenStart[t] ..< tokenStart[t + 1]].
        var tokenBytes: [UInt8] = []
        var tokenStart: [Int] = [0]
        for t in tokens { tokenBytes += t; tokenStart.append(tokenBytes.count) }
        let offsets = try read("kallsyms_offsets", address("kallsyms_offsets"), n * 4)
        let baseBytes = try read("kallsyms_relative_base", address("kallsyms_relative_base"), 8)
        var base: UInt64 = 0
        for i in (0..<8).reversed() { base = base << 8 | UInt64(baseBytes[i]) }

        var names = NamesReader(memory: memory, start: address("kallsyms_names"))
        var table = KallsymsTable()
        table.symbols.reserveCapacity(n)
        table.names.reserveCapacity(n * 20)
        var absolutePercpu = false
        for i in 0..<n where Int32(bitPattern: le32(offsets, i * 4)) < 0 { absolutePercpu = true; break }
        for i in 0..<n {
            let entryAt = names.position
            var length = Int(try names.byte())
            if length & 0x80 != 0 { length = (length & 0x7f) | Int(try names.byte()) << 7 }
            guard length > 0 else {
                throw KallsymsError.implausible(table: "kallsyms_names", address: names.address(entryAt),
                                                detail: "symbol \(i) has no tokens")
            }
            let start = table.names.count
            for _ in 0..<length {
                let t = Int(try names.byte())
                guard table.names.count - start + (tokenStart[t + 1] - tokenStart[t]) <= maxNameBytes,
                      table.names.count < maxExpandedBytes else {
                    throw KallsymsError.implausible(table: "kallsyms_names", address: names.address(entryAt),
                                                    detail: "symbol \(i) expands past \(maxNameBytes) bytes, or all names past \(maxExpandedBytes >> 20) MiB")
                }
                table.names.append(contentsOf: tokenBytes[tokenStart[t]..<tokenStart[t + 1]])
            }
            let expanded = table.names.count - start
            guard expanded >= 2 else {
                throw KallsymsError.implausible(table: "kallsyms_names", address: names.address(entryAt),
                                                detail: "symbol \(i) expands to \(expanded) bytes, expected a type letter and a name")
            }
            let raw = Int32(bitPattern: le32(offsets, i * 4))
            let value: UInt64
            if absolutePercpu {
                value = raw >= 0 ? UInt64(raw) : base &- 1 &- UInt64(bitPattern: Int64(raw))
            } else {
                value = base &+ UInt64(UInt32(bitPattern: raw))
            }
            // The expansion's first byte is the type letter: keep it out of the name.
            let type = table.names.remove(at: start)
            table.symbols.append(KallsymsTable.Symbol(address: value, nameOffset: UInt32(truncatingIfNeeded: start),
                                                      nameLength: UInt16(expanded - 1), type: type))
        }
        return table
    }

    /// The 256 tokens: each index entry's NUL-terminated string in the token table.
    static func tokenTable(index: [UInt8], tableAddress: UInt64, memory: KernelMemory) throws -> [[UInt8]] {
        let starts = (0..<256).map { Int(index[2 * $0]) | Int(index[2 * $0 + 1]) << 8 }
        let size = (starts.max() ?? 0) + tokenTableSlack
        let table: [UInt8]
        do { table = try memory.readVirtual(tableAddress, count: size) } catch {
            throw KallsymsError.unreadable(table: "kallsyms_token_table", address: tableAddress, reason: "\(error)")
        }
        return try starts.enumerated().map { token, start in
            guard let end = table[start...].firstIndex(of: 0) else {
                throw KallsymsError.implausible(table: "kallsyms_token_table", address: tableAddress &+ UInt64(start),
                                                detail: "token \(token) has no NUL within \(tokenTableSlack) bytes")
            }
            return Array(table[start..<end])
        }
    }

    /// `kallsyms_names`, read forward in 64 KiB blocks, never past `maxNamesBytes`.
    struct NamesReader {
        let memory: KernelMemory
        let start: UInt64
        var block: [UInt8] = []
        var blockStart = 0
        var position = 0
        static let blockSize = 64 << 10

        init(memory: KernelMemory, start: UInt64) {
            self.memory = memory
            self.start = start
        }

        func address(_ offset: Int) -> UInt64 { start &+ UInt64(offset) }

        mutating func byte() throws -> UInt8 {
            if position - blockStart >= block.count {
                guard position < Kallsyms.maxNamesBytes else {
                    throw KallsymsError.implausible(table: "kallsyms_names", address: start,
                                                    detail: "longer than \(Kallsyms.maxNamesBytes >> 20) MiB")
                }
                blockStart = position
                // A block may end at an unmapped page: fall back to what is readable up to it.
                let want = Self.blockSize - Int(address(position) & 0xfff)
                do { block = try memory.readVirtual(address(position), count: want) } catch {
                    do { block = try memory.readVirtual(address(position), count: 4096 - Int(address(position) & 0xfff)) } catch {
                        throw KallsymsError.unreadable(table: "kallsyms_names", address: address(position), reason: "\(error)")
                    }
                }
            }
            let b = block[position - blockStart]
            position += 1
            return b
        }
    }
}
