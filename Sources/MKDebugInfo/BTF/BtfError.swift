/// Why BTF could not be read: always names where the bytes came from and
/// the offset in them.
public enum BtfError: Error, CustomStringConvertible, Equatable {
    /// The kernel does not say where its BTF is (no `__start_BTF`/`__stop_BTF`).
    case notFound(String)
    case unreadable(source: String, address: UInt64, reason: String)
    case malformed(source: String, offset: Int, detail: String)

    public var description: String {
        switch self {
        case let .notFound(why):
            return "no BTF: \(why)"
        case let .unreadable(source, address, reason):
            return "\(source): cannot read the BTF at 0x\(String(address, radix: 16)): \(reason)"
        case let .malformed(source, offset, detail):
            return "\(source): bad BTF at offset \(offset): \(detail)"
        }
    }
}
