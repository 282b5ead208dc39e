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
    /// Where a computed value's bytes were copied from (a value-history entry):
    /// its contents stay as recorded, and `&$1` still gives this address.
    public var snapshotAddress: UInt64?
    /// The value exists in the program but not at this pc (a local without
    /// a location there): printed `<optimized out>`, never read.
    public var isOptimizedOut = false

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

    /// A value of `type` that is optimized out.
    public static func optimizedOut(type: CType) -> Value {
        var v = Value(type: type, bytes: [])
        v.isOptimizedOut = true
        return v
    }

    public var address: UInt64? {
        if case let .memory(a) = location { return a }
        return nil
    }

    public var isBitfield: Bool { bitSize != nil }

    /// A member at `offset` (the member's, or a path's through anonymous
    /// members): an lvalue when this value is one, else a slice of its
    /// bytes. A member of unknown size (a flexible array) gets no bytes.
    public func component(_ m: CType.Member, offset: UInt64) throws -> Value {
        if isOptimizedOut { return .optimizedOut(type: m.type) }
        var v: Value
        switch location {
        case let .memory(address):
            v = Value(type: m.type, address: address &+ offset)
        case .computed:
            let span = m.byteSpan ?? 0
            let (end, o) = offset.addingReportingOverflow(span)
            guard !o, end <= UInt64(bytes.count) else {
                throw ValueError.outside("member \"\(m.name ?? "<anonymous>")\" (bytes \(offset) to \(o ? "beyond 2^64" : String(end)))")
            }
            v = Value(type: m.type, bytes: Array(bytes[Int(offset)..<Int(end)]))
            v.snapshotAddress = snapshotAddress.map { $0 &+ offset }
        }
        v.bitOffset = m.bitOffset
        v.bitSize = m.bitSize
        return v
    }

    /// Bytes a bitfield's bits touch; the extraction handles up to 64 bits
    /// within 16 bytes, which every compiler's layout stays inside.
    func bitfieldSpan(_ bitSize: UInt64) throws -> Int {
        let offset = bitOffset ?? 0
        let (end, o) = offset.addingReportingOverflow(bitSize)
        guard bitSize >= 1, bitSize <= 64, !o, end <= 128 else {
            throw ValueError.badBitfield(type.description, bitOffset: offset, bitSize: bitSize)
        }
        return Int((end + 7) / 8)
    }
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
    case sizeOverflows(String)
    case badBitfield(String, bitOffset: UInt64, bitSize: UInt64)
    case outside(String)
    case optimizedOut

    public var description: String {
        switch self {
        case let .notAddressable(what): return "\(what) has no address in memory"
        case let .tooLarge(what, size): return "\(what) is \(size) bytes, more than mkdbg reads at once (\(ValueLimits.maxRead))"
        case let .incomplete(what): return "type \(what) is incomplete: its size is unknown"
        case let .sizeOverflows(what): return "type \(what) is too large: its size in bytes does not fit 64 bits"
        case let .badBitfield(what, offset, size):
            return "bitfield of type \(what) at bit \(offset) with \(size) bits: expected 1 to 64 bits within 16 bytes"
        case let .outside(what): return "\(what) lies outside the value's bytes"
        case .optimizedOut: return "value has been optimized out"
        }
    }
}

extension CType.Member {
    /// Bytes the member covers from its offset: its type's size, or for a
    /// bitfield the bytes its bits touch. Nil when unknown or absurd.
    public var byteSpan: UInt64? {
        guard let bits = bitSize else { return type.byteSize }
        let (end, o) = (bitOffset ?? 0).addingReportingOverflow(bits)
        return o ? nil : end / 8 + (end % 8 == 0 ? 0 : 1)
    }
}

extension Value {
    /// The value's bytes (its type's size), reading memory when needed.
    public func load(_ memory: ValueMemory) throws -> [UInt8] {
        if isOptimizedOut { throw ValueError.optimizedOut }
        guard case let .memory(address) = location else { return bytes }
        if let bitSize {
            let span = try bitfieldSpan(bitSize)
            return try memory.readVirtual(address, count: span)
        }
        guard let size = type.byteSize else {
            throw type.sizeOverflows ? ValueError.sizeOverflows(type.description) : ValueError.incomplete(type.description)
        }
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
        if let bitSize {
            _ = try bitfieldSpan(bitSize)
            var wide: UInt128 = 0
            for (i, b) in raw.prefix(16).enumerated() { wide |= UInt128(b) << (8 * UInt128(i)) }
            let mask: UInt64 = bitSize >= 64 ? .max : (1 << bitSize) - 1
            v = UInt64(truncatingIfNeeded: wide >> (bitOffset ?? 0)) & mask
            if signed && bitSize < 64 && v & (1 << (bitSize - 1)) != 0 { v |= ~mask }
            return v
        }
        let size = Int(min(r.byteSize ?? 8, 8))
        if signed && size < 8 && size > 0 && v & (1 << (UInt64(size) * 8 - 1)) != 0 {
            v |= ~((1 << (UInt64(size) * 8)) - 1)
        }
        return v
    }
}
