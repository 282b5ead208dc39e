/// Why the kernel's own symbol tables (kallsyms) could not be read from its memory.
public enum KallsymsError: Error, CustomStringConvertible, Equatable {
    /// VMCOREINFO does not export a table's address (a kernel older than 6.0 or without CONFIG_KALLSYMS).
    case notExported(symbol: String, image: String)
    /// A table is not readable at the address VMCOREINFO gave.
    case unreadable(table: String, address: UInt64, reason: String)
    /// A value in the tables is impossible (a symbol count, a length, a token index).
    case implausible(table: String, address: UInt64, detail: String)

    public var description: String {
        switch self {
        case let .notExported(symbol, image):
            return "\(image): VMCOREINFO has no SYMBOL(\(symbol)): the kernel does not export its kallsyms tables (needs 6.0+ with CONFIG_KALLSYMS)"
        case let .unreadable(table, address, reason):
            return "\(table) at 0x\(String(address, radix: 16)) is unreadable: \(reason)"
        case let .implausible(table, address, detail):
            return "\(table) at 0x\(String(address, radix: 16)): \(detail)"
        }
    }
}
