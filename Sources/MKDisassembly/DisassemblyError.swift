import MKFormat

/// Why code could not be disassembled.
public enum DisassemblyError: Error, CustomStringConvertible, Equatable {
    /// The code at this (virtual) address could not be read.
    case unreadable(address: UInt64, reason: String)
    /// More bytes than one listing reads.
    case tooLarge(start: UInt64, length: UInt64, limit: Int)
    /// Capstone refused to open or configure a handle.
    case engine(String)

    public var description: String {
        switch self {
        case let .unreadable(address, reason):
            return "cannot read code at \(hex(address)): \(reason)"
        case let .tooLarge(start, length, limit):
            return "cannot disassemble \(length) bytes from \(hex(start)): at most \(limit) bytes at a time"
        case let .engine(message):
            return "capstone: \(message)"
        }
    }
}
