/// Why the own DWARF scanner gave up on a vmlinux; the index is then built
/// through libdw instead, so this is never shown as a failure.
struct DwarfScanError: Error, CustomStringConvertible {
    let offset: Int
    let section: String
    let problem: String

    var description: String { "\(section)+0x\(String(offset, radix: 16)): \(problem)" }
}
