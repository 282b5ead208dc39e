import MKFormat
import MKDebugInfo

/// A member of a kernel struct located once from DWARF (`"thread_info.cpu"`
/// in `struct task_struct`): its `MemberLayout` and type. Helpers that walk
/// thousands of objects read each object's bytes once and pick members out
/// of them with `Field`s, instead of evaluating member by member.
public struct Field {
    public let layout: MemberLayout
    public let type: CType

    public var path: String { layout.path }
    /// Byte offset from the start of the containing struct.
    public var offset: Int { layout.offset }
    /// Width in bytes (of the storage unit, for bitfields).
    public var size: Int { layout.size }
    public var isSigned: Bool { layout.isSigned }
    public var bitOffset: UInt64? { layout.bitOffset.map { UInt64($0) } }
    public var bitSize: UInt64? { layout.bitSize.map { UInt64($0) } }
    public var end: Int { layout.end }
}

extension Kernel {
    /// The member at a dotted path (`"se.vruntime"`, through anonymous
    /// structs and unions; array indexes `comm[0]` are not paths) in `type`.
    public func field(_ path: String, in type: CType) throws -> Field {
        let (total, t, last) = try memberPath(path, in: type)
        guard let size = t.byteSize, size <= 1 << 20, total < 1 << 20 else {
            throw KernelError.unsupportedLayout(what: "\(TypeFormatter.name(of: type)).\(path)", message: "\(TypeFormatter.name(of: type)).\(path) has no known size")
        }
        return Field(layout: MemberLayout(path: path, offset: total, type: t, member: last), type: t)
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
        return bytes.withUnsafeBytes { f.layout.value(in: $0, base: -start) }
    }

    public func unsigned(_ f: Field) -> UInt64? { bits(f) }
    public func signed(_ f: Field) -> Int64? { bits(f).map { Int64(bitPattern: $0) } }

    /// A char array field up to its first NUL.
    public func string(_ f: Field) -> String? {
        guard contains(f) else { return nil }
        return bytes.withUnsafeBytes { f.layout.string(in: $0, base: -start) }
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
