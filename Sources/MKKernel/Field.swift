import MKFormat
import MKDebugInfo

/// A member of a kernel struct located once from DWARF (`"thread_info.cpu"`
/// in `struct task_struct`): its offset, type and width. Helpers that walk
/// thousands of objects read each object's bytes once and pick members out
/// of them with `Field`s, instead of evaluating member by member.
public struct Field {
    public let path: String
    /// Byte offset from the start of the containing struct.
    public let offset: Int
    public let type: CType
    /// Width in bytes (of the storage unit, for bitfields).
    public let size: Int
    public let isSigned: Bool
    public let bitOffset: UInt64?
    public let bitSize: UInt64?

    public var end: Int { offset + size }
}

extension Kernel {
    /// The member at a dotted path (`"se.vruntime"`, through anonymous
    /// structs and unions; array indexes `comm[0]` are not paths) in `type`.
    public func field(_ path: String, in type: CType) throws -> Field {
        let (total, t, last) = try memberPath(path, in: type)
        guard let size = t.byteSize, size <= 1 << 20, total < 1 << 20 else {
            throw KernelError.unsupported("\(TypeFormatter.name(of: type)).\(path) has no known size")
        }
        return Field(path: path, offset: Int(total), type: t, size: Int(size), isSigned: t.resolved.isSigned,
                     bitOffset: last?.bitOffset, bitSize: last?.bitSize)
    }

    /// `field`, or nil when this kernel's type has no such member.
    public func optionalField(_ path: String, in type: CType) -> Field? {
        try? field(path, in: type)
    }
}

/// Bytes of one object read in a single piece (`[start, start + count)` of
/// the struct), with typed loads of `Field`s inside it.
public struct ObjectBytes {
    public let address: UInt64
    /// Offset in the struct of `bytes[0]`.
    public let start: Int
    public let bytes: [UInt8]

    public init(address: UInt64, start: Int, bytes: [UInt8]) {
        self.address = address
        self.start = start
        self.bytes = bytes
    }

    public func contains(_ f: Field) -> Bool { f.offset >= start && f.end <= start + bytes.count }

    /// The field as a 64-bit pattern, sign-extended for signed types,
    /// extracted for bitfields; nil when the field is outside the bytes read.
    public func bits(_ f: Field) -> UInt64? {
        guard contains(f) else { return nil }
        let at = f.offset - start
        var v: UInt64 = 0
        let n = min(f.size, 8)
        for i in stride(from: n - 1, through: 0, by: -1) { v = (v << 8) | UInt64(bytes[at + i]) }
        if let bo = f.bitOffset, let bs = f.bitSize, bs < 64 {
            v = (v >> bo) & ((1 << bs) - 1)
            if f.isSigned && v & (1 << (bs - 1)) != 0 { v |= ~((1 << bs) - 1) }
            return v
        }
        if f.isSigned && n < 8 && n > 0 && v & (1 << (UInt64(n) * 8 - 1)) != 0 {
            v |= ~((1 << (UInt64(n) * 8)) - 1)
        }
        return v
    }

    public func unsigned(_ f: Field) -> UInt64? { bits(f) }
    public func signed(_ f: Field) -> Int64? { bits(f).map { Int64(bitPattern: $0) } }

    /// A char array field up to its first NUL.
    public func string(_ f: Field) -> String? {
        guard contains(f) else { return nil }
        let at = f.offset - start
        let slice = bytes[at..<(at + f.size)]
        return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
    }
}

extension Kernel {
    /// Reads the part of the object at `address` that covers `fields`, in one read.
    public func readObject(at address: UInt64, covering fields: [Field]) throws -> ObjectBytes {
        let lo = fields.map(\.offset).min() ?? 0
        let hi = fields.map(\.end).max() ?? 0
        let bytes = try memory.readVirtual(address &+ UInt64(lo), count: hi - lo)
        return ObjectBytes(address: address, start: lo, bytes: bytes)
    }
}
