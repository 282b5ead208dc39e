import MKDebugInfo

extension Kernel {
    /// The layout of `struct orc_entry`: from the kernel's types (DWARF or
    /// BTF), else Linux 6.1's.
    var orcFormat: OrcFormat {
        types.findType("struct orc_entry").flatMap { OrcFormat(type: $0) } ?? .linux61
    }

    /// A vmlinux's ORC tables are part of the loaded image: read them
    /// between `__start_orc_unwind_ip` and `__stop_orc_unwind_ip`, with the
    /// entries at `__start_orc_unwind` (run-time addresses).
    func memoryOrcTable() throws -> OrcTable {
        guard let symbols = target.symbols else { throw OrcError.missing("no symbols to find the ORC tables by") }
        guard let ipStart = symbols.lookup("__start_orc_unwind_ip")?.address,
              let ipStop = symbols.lookup("__stop_orc_unwind_ip")?.address,
              let entries = symbols.lookup("__start_orc_unwind")?.address else {
            throw OrcError.missing("the kernel's symbols have no __start_orc_unwind_ip/__stop_orc_unwind_ip/__start_orc_unwind")
        }
        guard ipStop > ipStart, (ipStop - ipStart) % 4 == 0, (ipStop - ipStart) / 4 <= 1 << 22 else {
            throw OrcError.malformed("__start_orc_unwind_ip 0x\(String(ipStart, radix: 16)) to __stop_orc_unwind_ip 0x\(String(ipStop, radix: 16)) is not a table of 1 to 4M entries")
        }
        let count = Int((ipStop - ipStart) / 4)
        let format = orcFormat
        let ips = try memory.readVirtual(ipStart, count: count * 4)
        let bytes = try memory.readVirtual(entries, count: count * format.entrySize)
        return try OrcTable(ipTableAddress: ipStart, ipBytes: ips, entryBytes: bytes, format: format)
    }
}
