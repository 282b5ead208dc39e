/// A file that is not what a format expects. The message names the file, the
/// offset when one is known, and what was expected there.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case io, truncated, badMagic, unsupported, corrupt
    }

    public let kind: Kind
    public let file: String
    public let offset: UInt64?
    public let message: String

    public init(_ kind: Kind, file: String, offset: UInt64? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset {
            return "\(file): at offset \(hex(offset)): \(message)"
        }
        return "\(file): \(message)"
    }
}

/// `0x`-prefixed lower-case hexadecimal, the way addresses are shown everywhere.
@inlinable
public func hex<T: BinaryInteger>(_ value: T) -> String {
    "0x" + String(value, radix: 16)
}

/// Addition of values read from files or memory: overflow is an error, not a trap.
@inlinable
public func checkedAdd(_ a: UInt64, _ b: UInt64) -> UInt64? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}
