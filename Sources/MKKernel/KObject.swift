import MKFormat
import MKDebugInfo
import MKValues

/// A typed object in kernel memory, with drgn-style navigation:
/// `task["comm"].string()`, `task["mm"].deref()["pgd"]`.
public struct KObject {
    public let value: Value
    unowned let kernel: Kernel

    init(_ value: Value, _ kernel: Kernel) {
        self.value = value
        self.kernel = kernel
    }

    public var type: CType { value.type }
    public var address: UInt64? { value.address }

    /// A member, through anonymous structs and unions; through pointers too.
    public subscript(_ name: String) -> KObject {
        get throws {
            var base = value
            if base.type.isPointer {
                guard let t = base.type.resolved.target else { throw KernelError.missingMember(TypeFormatter.name(of: base.type), name) }
                base = Value(type: t, address: try base.integerBits(kernel.memory))
            }
            guard let (m, off) = base.type.member(named: name) else {
                throw KernelError.missingMember(TypeFormatter.name(of: base.type), name)
            }
            var v: Value
            switch base.location {
            case let .memory(address): v = Value(type: m.type, address: address &+ off)
            case .computed:
                let size = Int(m.type.byteSize ?? 0)
                let start = Int(off)
                v = Value(type: m.type, bytes: start + size <= base.bytes.count ? Array(base.bytes[start..<(start + size)]) : [])
            }
            v.bitOffset = m.bitOffset
            v.bitSize = m.bitSize
            return KObject(v, kernel)
        }
    }

    /// Walks `a.b.c`.
    public func path(_ dotted: String) throws -> KObject {
        var o = self
        for part in dotted.split(separator: ".") { o = try o[String(part)] }
        return o
    }

    public func deref() throws -> KObject {
        guard type.isPointer, let t = type.resolved.target else {
            throw KernelError.wrongType(type: TypeFormatter.name(of: type), message: "cannot dereference \(TypeFormatter.name(of: type)): not a pointer")
        }
        return KObject(Value(type: t, address: try unsigned()), kernel)
    }

    /// Element `i` of an array or pointer.
    public func index(_ i: Int) throws -> KObject {
        let r = type.resolved
        guard let e = r.target, let size = e.byteSize, r.kind == .array || r.kind == .pointer else {
            throw KernelError.wrongType(type: TypeFormatter.name(of: type), message: "cannot index \(TypeFormatter.name(of: type))")
        }
        let base = r.kind == .array ? (address ?? 0) : try unsigned()
        return KObject(Value(type: e, address: base &+ UInt64(bitPattern: Int64(i) &* Int64(bitPattern: size))), kernel)
    }

    public func unsigned() throws -> UInt64 { try value.integerBits(kernel.memory) }
    public func signed() throws -> Int64 { Int64(bitPattern: try value.integerBits(kernel.memory)) }

    /// A char array or `char *` as text, up to the first NUL (bounded).
    public func string(limit: Int = 4096) throws -> String {
        let r = type.resolved
        if r.kind == .array, let a = address {
            let n = Int(min(r.byteSize ?? UInt64(limit), UInt64(limit)))
            let bytes = try kernel.memory.readVirtual(a, count: n)
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        if r.kind == .pointer {
            let p = try unsigned()
            if p == 0 { return "" }
            return try kernel.memory.readCString(p, limit: limit)
        }
        throw KernelError.wrongType(type: TypeFormatter.name(of: type), message: "\(TypeFormatter.name(of: type)) is not a string")
    }

    /// Reinterprets the object's address as another type.
    public func cast(to t: CType) throws -> KObject {
        guard let a = address else { throw KernelError.notInMemory(what: TypeFormatter.name(of: type), message: "object is not in memory") }
        return KObject(Value(type: t, address: a), kernel)
    }
}
