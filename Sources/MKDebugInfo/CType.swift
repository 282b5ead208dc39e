/// A C type from the kernel's DWARF. Reference type: struct types are
/// shared and pointer targets resolve lazily, so cyclic types cost nothing.
public final class CType: CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case void, integer, bool, float, pointer, array, structure, union, enumeration, typedef, function
    }

    public struct Member {
        public var name: String?
        public var type: CType
        /// Byte offset of the member (of its storage unit for bitfields).
        public var offset: UInt64
        /// For bitfields: the bit offset from `offset * 8`, and the width.
        public var bitOffset: UInt64?
        public var bitSize: UInt64?

        public init(name: String?, type: CType, offset: UInt64, bitOffset: UInt64? = nil, bitSize: UInt64? = nil) {
            self.name = name
            self.type = type
            self.offset = offset
            self.bitOffset = bitOffset
            self.bitSize = bitSize
        }
    }

    public let kind: Kind
    /// Tag of a struct/union/enum, name of a typedef or base type.
    public let name: String?
    public let size: UInt64?
    public var isSigned = false
    public var isConst = false
    public var isVolatile = false
    /// Array length; nil for a flexible or unknown-length array.
    public var count: UInt64?
    public var members: [Member] = []
    public var enumerators: [(name: String, value: Int64)] = []
    public var parameters: [CType] = []
    public var isVariadic = false
    /// A function type without a prototype (`void ()`, as gdb types `$pc`).
    public var isUnprototyped = false
    /// DWARF offset it came from, when it came from DWARF.
    public let dieOffset: UInt64?

    private var resolvedTarget: CType?
    private let targetLoader: (() -> CType)?

    public init(kind: Kind, name: String?, size: UInt64?, dieOffset: UInt64? = nil,
                target: CType? = nil, targetLoader: (() -> CType)? = nil) {
        self.kind = kind
        self.name = name
        self.size = size
        self.dieOffset = dieOffset
        self.resolvedTarget = target
        self.targetLoader = targetLoader
    }

    /// Pointee, element, typedef target, enum's underlying type or
    /// function's return type.
    public var target: CType? {
        if let resolvedTarget { return resolvedTarget }
        guard let targetLoader else { return nil }
        let t = targetLoader()
        resolvedTarget = t
        return t
    }

    /// A copy with qualifiers added (const/volatile DIEs).
    public func qualified(const c: Bool, volatile v: Bool) -> CType {
        let t = CType(kind: kind, name: name, size: size, dieOffset: dieOffset, target: resolvedTarget, targetLoader: targetLoader)
        t.isSigned = isSigned
        t.count = count
        t.members = members
        t.enumerators = enumerators
        t.parameters = parameters
        t.isVariadic = isVariadic
        t.isUnprototyped = isUnprototyped
        t.isConst = isConst || c
        t.isVolatile = isVolatile || v
        return t
    }

    public static let void = CType(kind: .void, name: "void", size: nil)

    public static func integer(_ name: String, size: UInt64, signed: Bool) -> CType {
        let t = CType(kind: .integer, name: name, size: size)
        t.isSigned = signed
        return t
    }

    public static func pointer(to target: CType) -> CType {
        CType(kind: .pointer, name: nil, size: 8, target: target)
    }

    /// An array type; its size is nil when unknown or when count times the
    /// element's size does not fit 64 bits (see `sizeOverflows`).
    public static func array(of element: CType, count: UInt64?) -> CType {
        let size = count.flatMap { c in element.byteSize.flatMap { e -> UInt64? in
            let (r, o) = c.multipliedReportingOverflow(by: e)
            return o ? nil : r
        } }
        let t = CType(kind: .array, name: nil, size: size, target: element)
        t.count = count
        return t
    }

    /// True for an array (or a typedef of one, or an array of such) whose
    /// size in bytes does not fit 64 bits.
    public var sizeOverflows: Bool {
        var t = resolved
        var steps = 0
        while t.kind == .array, let e = t.target, steps < 4096 {
            if let c = t.count, let es = e.byteSize, c.multipliedReportingOverflow(by: es).overflow { return true }
            t = e.resolved
            steps += 1
        }
        return false
    }

    /// Follows typedefs (and so drops their names) to the real type.
    public var resolved: CType {
        var t = self
        var steps = 0
        while t.kind == .typedef, let next = t.target, steps < 64 {
            t = next
            steps += 1
        }
        return t
    }

    /// Size in bytes, looking through typedefs; arrays multiply.
    public var byteSize: UInt64? {
        switch kind {
        case .typedef:
            let r = resolved
            return r.kind == .typedef ? nil : r.byteSize
        case .array:
            if let size { return size }
            guard let c = count, let e = target?.byteSize else { return nil }
            let (r, o) = c.multipliedReportingOverflow(by: e)
            return o ? nil : r
        case .enumeration: return size ?? target?.byteSize
        default: return size
        }
    }

    public var isInteger: Bool {
        let r = resolved
        return r.kind == .integer || r.kind == .bool || r.kind == .enumeration
    }

    public var isPointer: Bool { resolved.kind == .pointer }
    public var isScalar: Bool { isInteger || isPointer || resolved.kind == .float }
    public var isAggregate: Bool { let k = resolved.kind; return k == .structure || k == .union }

    /// The member called `name`, searched through anonymous structs and
    /// unions; returns the path's total byte offset.
    public func member(named name: String) -> (member: Member, offset: UInt64)? {
        var budget = Self.maxAnonymousVisits
        var path = Set<ObjectIdentifier>()
        return member(named: name, depth: 0, budget: &budget, path: &path)
    }

    /// Anonymous members searched in all, and the types on the way down: a hostile type that
    /// contains itself anonymously (or twice at each level) would otherwise take forever.
    static let maxAnonymousVisits = 4096

    /// Anonymous members nest a few levels in real kernels; the bound stops
    /// a cyclic type from corrupt DWARF.
    static let maxAnonymousDepth = 64

    private func member(named name: String, depth: Int, budget: inout Int, path: inout Set<ObjectIdentifier>) -> (member: Member, offset: UInt64)? {
        let r = resolved
        guard r.kind == .structure || r.kind == .union, depth < Self.maxAnonymousDepth, budget > 0,
              path.insert(ObjectIdentifier(r)).inserted else { return nil }
        budget -= 1
        defer { path.remove(ObjectIdentifier(r)) }
        for m in r.members {
            if m.name == name { return (m, m.offset) }
        }
        for m in r.members where m.name == nil {
            if let (inner, off) = m.type.member(named: name, depth: depth + 1, budget: &budget, path: &path) {
                return (inner, m.offset &+ off)
            }
        }
        return nil
    }

    /// Member names, including those reached through anonymous members.
    public var memberNames: [String] {
        var budget = Self.maxAnonymousVisits
        var path = Set<ObjectIdentifier>()
        return memberNames(depth: 0, budget: &budget, path: &path)
    }

    private func memberNames(depth: Int, budget: inout Int, path: inout Set<ObjectIdentifier>) -> [String] {
        let r = resolved
        guard depth < Self.maxAnonymousDepth, budget > 0, path.insert(ObjectIdentifier(r)).inserted else { return [] }
        budget -= 1
        defer { path.remove(ObjectIdentifier(r)) }
        var names: [String] = []
        for m in r.members {
            if let n = m.name { names.append(n) } else { names += m.type.memberNames(depth: depth + 1, budget: &budget, path: &path) }
        }
        return names
    }

    /// The C spelling of the type, as gdb's `whatis` prints it.
    public var description: String { TypeFormatter.name(of: self) }
}
