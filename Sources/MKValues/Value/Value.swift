import MKFormat
import MKDebugInfo

/// Where a value's bytes live: in target memory (an lvalue) or only in the
/// debugger (a computed rvalue).
public enum ValueLocation: Equatable {
    case memory(address: UInt64)
    case computed
}

/// A typed value, as drgn's objects: a type plus either an address in the
/// target's memory or the bytes themselves. Bitfields carry their bit
/// position. Reading is explicit so that `&x` and `sizeof x` never touch memory.
public struct Value {
    public var type: CType
    public var location: ValueLocation
    /// Contents for computed values (little-endian).
    public var bytes: [UInt8]
    public var bitOffset: UInt64?
    public var bitSize: UInt64?

    public init(type: CType, address: UInt64) {
        self.type = type
        self.location = .memory(address: address)
        self.bytes = []
    }

    public init(type: CType, bytes: [UInt8]) {
        self.type = type
        self.location = .computed
        self.bytes = bytes
    }

    public static func integer(_ v: UInt64, type: CType) -> Value {
        let size = Int(min(type.byteSize ?? 8, 8))
        return Value(type: type, bytes: (0..<size).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) })
    }

    public var address: UInt64? {
        if case let .memory(a) = location { return a }
        return nil
    }

    public var isBitfield: Bool { bitSize != nil }
}

/// Memory a value can be read from.
public protocol ValueMemory: AnyObject {
    func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8]
}

/// Limits that keep a print of corrupt or huge data bounded.
public enum ValueLimits {
    /// Largest object read in one go (a struct, an array being printed).
    public static let maxRead = 1 << 20
}

public enum ValueError: Error, CustomStringConvertible, Equatable {
    case notAddressable(String)
    case tooLarge(String, UInt64)
    case incomplete(String)

    public var description: String {
        switch self {
        case let .notAddressable(what): return "\(what) has no address in memory"
        case let .tooLarge(what, size): return "\(what) is \(size) bytes, more than mkdbg reads at once (\(ValueLimits.maxRead))"
        case let .incomplete(what): return "type \(what) is incomplete: its size is unknown"
        }
    }
}

extension Value {
    /// The value's bytes (its type's size), reading memory when needed.
    public func load(_ memory: ValueMemory) throws -> [UInt8] {
        guard case let .memory(address) = location else { return bytes }
        if let bitSize, let bitOffset {
            let span = Int((bitOffset + bitSize + 7) / 8)
            return try memory.readVirtual(address, count: max(span, 1))
        }
        guard let size = type.byteSize else { throw ValueError.incomplete(type.description) }
        guard size <= UInt64(ValueLimits.maxRead) else { throw ValueError.tooLarge(type.description, size) }
        return try memory.readVirtual(address, count: Int(size))
    }

    /// The value as a 64-bit pattern (integers, enums, pointers, bools),
    /// sign-extended for signed types and extracted for bitfields.
    public func integerBits(_ memory: ValueMemory) throws -> UInt64 {
        let raw = try load(memory)
        var v: UInt64 = 0
        for (i, b) in raw.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        let r = type.resolved
        let signed = r.isSigned
        if let bitSize, let bitOffset {
            var wide: UInt64 = 0
            // Bitfields may straddle 8 bytes only in theory; the kernel's do not.
            for (i, b) in raw.prefix(16).enumerated() where i < 8 { wide |= UInt64(b) << (8 * UInt64(i)) }
            v = bitSize >= 64 ? wide >> bitOffset : (wide >> bitOffset) & ((1 << bitSize) - 1)
            if signed && bitSize < 64 && v & (1 << (bitSize - 1)) != 0 { v |= ~((1 << bitSize) - 1) }
            return v
        }
        let size = Int(min(r.byteSize ?? 8, 8))
        if signed && size < 8 && size > 0 && v & (1 << (UInt64(size) * 8 - 1)) != 0 {
            v |= ~((1 << (UInt64(size) * 8)) - 1)
        }
        return v
    }
}
