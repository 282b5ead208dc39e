import MKFormat
import MKDebugInfo

/// Evaluates parsed C expressions against a kernel: names through the
/// DWARF index and the relocated symbol table, values through memory.
/// Nothing here writes memory.
public final class Evaluator {
    public let types: any TypeSource
    /// The vmlinux's DWARF; nil when types come from BTF.
    public var debugInfo: DebugInfo? { types.dwarfInfo }
    public let memory: ValueMemory
    public let symbols: SymbolTable?
    public var history = ValueHistory()
    /// The selected frame's registers and variables (nil: globals only).
    public weak var frameScope: (any FrameScope)?

    public init(types: any TypeSource, memory: ValueMemory, symbols: SymbolTable?) {
        self.types = types
        self.memory = memory
        self.symbols = symbols
    }

    /// A parser whose type oracle knows the kernel's typedef names.
    public var parser: ExpressionParser {
        let types = types
        return ExpressionParser(isTypeName: { types.isTypeName($0) })
    }

    public func evaluate(_ text: String) throws -> Value {
        try evaluate(parser.parse(text))
    }

    // MARK: C types

    static let int = CType.integer("int", size: 4, signed: true)
    static let unsignedInt = CType.integer("unsigned int", size: 4, signed: false)
    static let long = CType.integer("long", size: 8, signed: true)
    static let unsignedLong = CType.integer("unsigned long", size: 8, signed: false)
    static let char = CType.integer("char", size: 1, signed: true)
    static let bool = CType(kind: .bool, name: "_Bool", size: 1)

    func primitive(_ p: PrimitiveType) -> CType {
        switch p {
        case .void: return .void
        case .bool: return Self.bool
        case .char: return Self.char
        case .signedChar: return .integer("signed char", size: 1, signed: true)
        case .unsignedChar: return .integer("unsigned char", size: 1, signed: false)
        case .short: return .integer("short", size: 2, signed: true)
        case .unsignedShort: return .integer("unsigned short", size: 2, signed: false)
        case .int: return Self.int
        case .unsignedInt: return Self.unsignedInt
        case .long: return Self.long
        case .unsignedLong: return Self.unsignedLong
        case .longLong: return .integer("long long", size: 8, signed: true)
        case .unsignedLongLong: return .integer("unsigned long long", size: 8, signed: false)
        case .float: return CType(kind: .float, name: "float", size: 4)
        case .double: return CType(kind: .float, name: "double", size: 8)
        case .longDouble: return CType(kind: .float, name: "long double", size: 16)
        }
    }

    public func resolveType(_ name: TypeName) throws -> CType {
        var t: CType
        switch name.base {
        case let .primitive(p):
            t = primitive(p)
        case let .structure(tag):
            guard let found = types.findType("struct " + tag) else {
                throw EvaluationError("no struct type named \"\(tag)\"" + didYouMean(tag, [.structure]), at: name.baseRange)
            }
            t = found
        case let .union(tag):
            guard let found = types.findType("union " + tag) else {
                throw EvaluationError("no union type named \"\(tag)\"" + didYouMean(tag, [.union]), at: name.baseRange)
            }
            t = found
        case let .enumeration(tag):
            guard let found = types.findType("enum " + tag) else {
                throw EvaluationError("no enum type named \"\(tag)\"" + didYouMean(tag, [.enumeration]), at: name.baseRange)
            }
            t = found
        case let .typedef(n):
            guard let found = types.findType(n) else {
                throw EvaluationError("no type named \"\(n)\"" + didYouMean(n, [.typedef, .base]), at: name.baseRange)
            }
            t = found
        }
        if !name.qualifiers.isEmpty {
            t = t.qualified(const: name.qualifiers.contains(.const), volatile: name.qualifiers.contains(.volatile))
        }
        for d in name.derivations {
            switch d {
            case let .pointer(q):
                t = CType.pointer(to: t)
                if !q.isEmpty { t = t.qualified(const: q.contains(.const), volatile: q.contains(.volatile)) }
            case let .array(n):
                t = CType.array(of: t, count: n)
                if t.sizeOverflows {
                    throw EvaluationError("\(TypeFormatter.name(of: t)) is too large: its size in bytes does not fit 64 bits", at: name.range)
                }
            }
        }
        return t
    }

    func didYouMean(_ name: String, _ kinds: Set<IndexKind>) -> String {
        let s = types.suggestions(for: name, kinds: kinds)
        return s.isEmpty ? "" : "; did you mean " + s.map { "\"\($0)\"" }.joined(separator: ", ") + "?"
    }

    // MARK: evaluation

    public func evaluate(_ node: ExpressionNode) throws -> Value {
        switch node.kind {
        case let .integer(lit):
            return Value.integer(lit.value, type: literalType(lit))
        case let .character(c):
            return Value.integer(UInt64(c), type: Self.char)
        case let .string(bytes):
            return Value(type: CType.array(of: Self.char, count: UInt64(bytes.count + 1)), bytes: bytes + [0])
        case let .identifier(name):
            return try identifier(name, node.range)
        case let .history(ref):
            guard let v = history.lookup(ref) else {
                throw EvaluationError("history is empty or has no value \(ref)", at: node.range)
            }
            return v
        case let .convenienceVariable(name):
            if let v = try frameScope?.register(named: name) { return v }
            throw EvaluationError("no register or convenience variable \"$\(name)\" (registers come with bt and live targets)", at: node.range)
        case let .member(base, name, nameRange):
            return try member(try evaluate(base), name, nameRange, arrow: false)
        case let .arrow(base, name, nameRange):
            return try member(try evaluate(base), name, nameRange, arrow: true)
        case let .index(base, index):
            return try subscriptValue(try evaluate(base), try evaluate(index), node.range)
        case let .unary(op, operand):
            return try unary(op, try evaluate(operand), node.range)
        case let .cast(typeName, operand):
            return try cast(try evaluate(operand), to: try resolveType(typeName), node.range)
        case let .sizeofExpression(operand):
            let v = try evaluate(operand)
            return Value.integer(try sizeof(v.type, node.range), type: Self.unsignedLong)
        case let .sizeofType(typeName):
            let t = try resolveType(typeName)
            return Value.integer(try sizeof(t, typeName.range), type: Self.unsignedLong)
        case let .binary(op, lhs, rhs):
            if op == .logicalAnd || op == .logicalOr {
                let l = try truth(try evaluate(lhs), lhs.range)
                if op == .logicalAnd && !l { return Value.integer(0, type: Self.int) }
                if op == .logicalOr && l { return Value.integer(1, type: Self.int) }
                return Value.integer(try truth(try evaluate(rhs), rhs.range) ? 1 : 0, type: Self.int)
            }
            if op == .artificialArray { return try artificialArray(try evaluate(lhs), lhs.range, try evaluate(rhs), rhs.range) }
            return try binary(op, try evaluate(lhs), try evaluate(rhs), node.range)
        case let .conditional(c, a, b):
            return try truth(try evaluate(c), c.range) ? try evaluate(a) : try evaluate(b)
        case let .offsetof(typeName, path):
            let t = try resolveType(typeName)
            let (off, _) = try offset(in: t, path)
            return Value.integer(off, type: Self.unsignedLong)
        case let .containerOf(pointer, typeName, path):
            let t = try resolveType(typeName)
            let (off, _) = try offset(in: t, path)
            let p = try rvalue(try evaluate(pointer), pointer.range)
            guard p.type.isPointer || p.type.isInteger else {
                throw EvaluationError("container_of needs a pointer, got \(p.type)", at: pointer.range)
            }
            let bits = try p.integerBits(memory)
            return Value.integer(bits &- off, type: CType.pointer(to: t))
        }
    }

    func sizeof(_ t: CType, _ range: SourceRange) throws -> UInt64 {
        if let size = t.byteSize { return size }
        if t.sizeOverflows { throw EvaluationError("sizeof: \(t) is too large: its size in bytes does not fit 64 bits", at: range) }
        throw EvaluationError("sizeof of incomplete type \(t)", at: range)
    }

    func literalType(_ lit: IntegerLiteral) -> CType {
        let v = lit.value
        let decimal = lit.radix == .decimal
        if lit.isUnsigned {
            return (lit.length == .plain && v <= UInt64(UInt32.max)) ? Self.unsignedInt : Self.unsignedLong
        }
        if lit.length == .plain && v <= UInt64(Int32.max) { return Self.int }
        if lit.length == .plain && !decimal && v <= UInt64(UInt32.max) { return Self.unsignedInt }
        if v <= UInt64(Int64.max) { return Self.long }
        return Self.unsignedLong
    }

    func identifier(_ name: String, _ range: SourceRange) throws -> Value {
        if let v = try frameScope?.variable(named: name) { return v }
        if let v = types.variable(name) {
            if let address = symbols?.lookup(name)?.address ?? v.linkAddress.map(relocate) {
                return Value(type: v.type, address: address)
            }
            throw EvaluationError("\"\(name)\" has no static address (optimized out or not defined here)", at: range)
        }
        if let f = types.function(name) {
            let address = symbols?.lookup(name)?.address ?? f.linkAddress.map(relocate) ?? 0
            return Value(type: f.type, address: address)
        }
        if let (t, value) = types.enumerator(name) {
            return Value.integer(UInt64(bitPattern: value), type: t)
        }
        if let s = symbols?.lookup(name) {
            throw EvaluationError("\"\(name)\" (at \(hex(s.address))) has no debug info; cast it, e.g. *(unsigned long *)&\(name), or use &\(name)", at: range)
        }
        let suggestions = types.suggestions(for: name, kinds: [.variable, .function, .enumerator])
        let hint = suggestions.isEmpty ? "" : "; did you mean " + suggestions.map { "\"\($0)\"" }.joined(separator: ", ") + "?"
        throw EvaluationError("no symbol \"\(name)\" in the kernel's debug info" + hint, at: range, unknownSymbol: name)
    }

    func relocate(_ linkAddress: UInt64) -> UInt64 {
        symbols?.relocated(linkAddress) ?? linkAddress
    }

    func member(_ base: Value, _ name: String, _ range: SourceRange, arrow: Bool) throws -> Value {
        var object = base
        if arrow {
            let p = try rvalue(base, range)
            guard p.type.isPointer, let target = p.type.resolved.target else {
                throw EvaluationError("the left side of -> is \(base.type), not a pointer to a struct or union", at: range)
            }
            object = Value(type: target, address: try p.integerBits(memory))
        } else if base.type.isPointer {
            throw EvaluationError("\(base.type) is a pointer; use -> to reach \"\(name)\"", at: range)
        }
        let r = object.type.resolved
        guard r.kind == .structure || r.kind == .union else {
            throw EvaluationError("\(object.type) is not a struct or union; it has no member \"\(name)\"", at: range)
        }
        guard let (m, offset) = object.type.member(named: name) else {
            let names = object.type.memberNames
            let close = names.filter { editDistance($0, name) <= 2 }.prefix(3)
            let hint = close.isEmpty ? "" : "; did you mean " + close.map { "\"\($0)\"" }.joined(separator: ", ") + "?"
            throw EvaluationError("\(TypeFormatter.name(of: object.type)) has no member named \"\(name)\"" + hint, at: range)
        }
        do {
            return try object.component(m, offset: offset)
        } catch let e as ValueError {
            throw EvaluationError("\(e)", at: range)
        }
    }

    func subscriptValue(_ base: Value, _ index: Value, _ range: SourceRange) throws -> Value {
        let i = try signedInt(try rvalue(index, range), range)
        let r = base.type.resolved
        guard let element = r.target, r.kind == .array || r.kind == .pointer else {
            throw EvaluationError("cannot subscript \(base.type): not an array or pointer", at: range)
        }
        guard let esize = element.byteSize else { throw EvaluationError("cannot subscript: element type \(element) is incomplete", at: range) }
        let delta = UInt64(bitPattern: i &* Int64(bitPattern: esize))
        if r.kind == .array {
            switch base.location {
            case let .memory(address):
                return Value(type: element, address: address &+ delta)
            case .computed:
                guard i >= 0, let count = r.count, UInt64(i) < count else {
                    throw EvaluationError("index \(i) is outside the array (\(r.count.map(String.init) ?? "?") elements)", at: range)
                }
                // The element must lie inside the bytes the value holds.
                let (start, o1) = UInt64(i).multipliedReportingOverflow(by: esize)
                let (end, o2) = start.addingReportingOverflow(esize)
                guard !o1, !o2, end <= UInt64(base.bytes.count) else {
                    throw EvaluationError("element \(i) lies outside the array value's \(base.bytes.count) bytes", at: range)
                }
                var v = Value(type: element, bytes: Array(base.bytes[Int(start)..<Int(end)]))
                v.snapshotAddress = base.snapshotAddress.map { $0 &+ start }
                return v
            }
        }
        let p = try base.integerBits(memory)
        return Value(type: element, address: p &+ delta)
    }

    /// Arrays decay to pointers; functions to function pointers.
    func rvalue(_ v: Value, _ range: SourceRange) throws -> Value {
        let r = v.type.resolved
        if r.kind == .array, let element = r.target {
            guard let a = v.address ?? v.snapshotAddress else { throw EvaluationError("array value has no address to decay to", at: range) }
            return Value.integer(a, type: CType.pointer(to: element))
        }
        if r.kind == .function {
            guard let a = v.address else { throw EvaluationError("function has no address", at: range) }
            return Value.integer(a, type: CType.pointer(to: v.type))
        }
        return v
    }

    func unary(_ op: UnaryOperator, _ v: Value, _ range: SourceRange) throws -> Value {
        switch op {
        case .addressOf:
            if v.isBitfield { throw EvaluationError("cannot take the address of a bitfield", at: range) }
            guard let a = v.address ?? v.snapshotAddress else { throw EvaluationError("cannot take the address of a value not in memory", at: range) }
            return Value.integer(a, type: CType.pointer(to: v.type))
        case .dereference:
            let p = try rvalue(v, range)
            guard p.type.isPointer, let target = p.type.resolved.target else {
                throw EvaluationError("cannot dereference \(v.type): not a pointer", at: range)
            }
            if target.resolved.kind == .void { throw EvaluationError("cannot dereference a void pointer; cast it first", at: range) }
            return Value(type: target, address: try p.integerBits(memory))
        case .logicalNot:
            return Value.integer(try truth(v, range) ? 0 : 1, type: Self.int)
        case .plus:
            let (bits, t) = try arithmetic(v, range)
            return Value.integer(bits, type: t)
        case .negate:
            let (bits, t) = try arithmetic(v, range)
            return Value.integer(0 &- bits, type: t)
        case .bitwiseNot:
            let (bits, t) = try arithmetic(v, range)
            return Value.integer(~bits, type: t)
        }
    }

    /// An integer operand after the integer promotions.
    func arithmetic(_ v: Value, _ range: SourceRange) throws -> (UInt64, CType) {
        let rv = try rvalue(v, range)
        guard rv.type.isInteger || rv.type.isPointer else {
            throw EvaluationError("\(v.type) is not an integer", at: range)
        }
        let bits = try rv.integerBits(memory)
        let t = promoted(rv.type)
        return (bits, t)
    }

    func promoted(_ t: CType) -> CType {
        let r = t.resolved
        if r.kind == .pointer { return Self.unsignedLong }
        let size = r.byteSize ?? 4
        if size < 4 || r.kind == .bool { return Self.int }
        if r.kind == .enumeration { return size > 4 ? (r.isSigned ? Self.long : Self.unsignedLong) : (r.isSigned ? Self.int : Self.unsignedInt) }
        return t
    }

    /// The usual arithmetic conversions of two promoted types.
    func common(_ a: CType, _ b: CType) -> CType {
        let sa = a.resolved.byteSize ?? 4, sb = b.resolved.byteSize ?? 4
        if sa != sb { return sa > sb ? a : b }
        if !a.resolved.isSigned { return a }
        if !b.resolved.isSigned { return b }
        return a
    }

    func signedInt(_ v: Value, _ range: SourceRange) throws -> Int64 {
        guard v.type.isInteger else { throw EvaluationError("\(v.type) is not an integer", at: range) }
        return Int64(bitPattern: try v.integerBits(memory))
    }

    func truth(_ v: Value, _ range: SourceRange) throws -> Bool {
        let rv = try rvalue(v, range)
        guard rv.type.isScalar else { throw EvaluationError("\(v.type) is not a scalar and has no truth value", at: range) }
        return try rv.integerBits(memory) != 0
    }

    func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value, _ range: SourceRange) throws -> Value {
        let l = try rvalue(lhs, range), r = try rvalue(rhs, range)
        // Pointer arithmetic.
        if l.type.isPointer || r.type.isPointer {
            let lb = try l.integerBits(memory), rb = try r.integerBits(memory)
            switch op {
            case .add, .subtract:
                if l.type.isPointer && r.type.isPointer {
                    guard op == .subtract else { throw EvaluationError("cannot add two pointers", at: range) }
                    let size = try pointeeSize(l.type, range)
                    guard size > 0 else { throw EvaluationError("cannot subtract pointers to \(l.type.resolved.target.map { "\($0)" } ?? "?"): its size is 0", at: range) }
                    // The byte distance is signed; the element size is unsigned
                    // and may exceed Int64.max, so divide exactly in 128 bits.
                    let distance = Int128(Int64(bitPattern: lb &- rb))
                    let quotient = Int64(distance / Int128(size))
                    return Value.integer(UInt64(bitPattern: quotient), type: Self.long)
                }
                let (p, n) = l.type.isPointer ? (l, rb) : (r, lb)
                guard op == .add || l.type.isPointer else { throw EvaluationError("cannot subtract a pointer from an integer", at: range) }
                let scale = try pointeeSize(p.type, range)
                let pb = try p.integerBits(memory)
                // Addresses wrap modulo 2^64, as gdb's and drgn's do.
                let delta = n &* scale
                return Value.integer(op == .add ? pb &+ delta : pb &- delta, type: p.type)
            case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual:
                return Value.integer(compare(op, lb, rb, signed: false) ? 1 : 0, type: Self.int)
            default:
                if l.type.isPointer && r.type.isPointer { throw EvaluationError("invalid operands to \(op): two pointers", at: range) }
            }
        }
        let (lb, lt) = try arithmetic(l, range)
        let (rb, rt) = try arithmetic(r, range)
        if op == .shiftLeft || op == .shiftRight { return try shift(op, lb, lt, rb, rt, range) }
        let t = common(lt, rt)
        let w = IntegerWidth(t)
        let a = lb & w.mask, b = rb & w.mask
        let result: UInt64
        // Unsigned arithmetic wraps, as C defines; signed +, - and * wrap in
        // two's complement as gdb and drgn compute them.
        switch op {
        case .add: result = a &+ b
        case .subtract: result = a &- b
        case .multiply: result = w.signed ? UInt64(bitPattern: w.extend(a) &* w.extend(b)) : a &* b
        case .divide, .remainder:
            guard b != 0 else { throw EvaluationError("division by zero", at: range) }
            if w.signed {
                let (x, y) = (w.extend(a), w.extend(b))
                if x == w.minimum && y == -1 {
                    // The one signed quotient that does not fit its type.
                    guard op == .remainder else {
                        throw EvaluationError("\(x) / -1 overflows \(t): the quotient does not fit the type", at: range)
                    }
                    result = 0
                } else {
                    result = UInt64(bitPattern: op == .divide ? x / y : x % y)
                }
            } else {
                result = op == .divide ? a / b : a % b
            }
        case .bitwiseAnd: result = a & b
        case .bitwiseOr: result = a | b
        case .bitwiseXor: result = a ^ b
        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual:
            let outcome = w.signed ? compareSigned(op, w.extend(a), w.extend(b)) : compare(op, a, b, signed: false)
            return Value.integer(outcome ? 1 : 0, type: Self.int)
        case .logicalAnd, .logicalOr:
            return Value.integer((a != 0 && b != 0) || (op == .logicalOr && (a != 0 || b != 0)) ? 1 : 0, type: Self.int)
        case .shiftLeft, .shiftRight:
            return try shift(op, lb, lt, rb, rt, range)
        case .artificialArray:
            // Evaluated before the operands become rvalues (it needs the left's address).
            throw EvaluationError("the left side of @ must be a value in memory", at: range)
        }
        return Value.integer(result & w.mask, type: t)
    }

    /// C's shifts: the result has the promoted left operand's type; a
    /// negative count or one not below its width is undefined in C, so an error.
    func shift(_ op: BinaryOperator, _ lb: UInt64, _ lt: CType, _ rb: UInt64, _ rt: CType, _ range: SourceRange) throws -> Value {
        let w = IntegerWidth(lt)
        let countWidth = IntegerWidth(rt)
        let count = rb & countWidth.mask
        if countWidth.signed && countWidth.extend(count) < 0 {
            throw EvaluationError("shift count \(countWidth.extend(count)) is negative", at: range)
        }
        guard count < w.bits else {
            throw EvaluationError("shift count \(count) is not below the width of \(lt) (\(w.bits) bits)", at: range)
        }
        let a = lb & w.mask
        let result: UInt64
        if op == .shiftLeft {
            result = a << count
        } else {
            result = w.signed ? UInt64(bitPattern: w.extend(a) >> Int64(count)) : a >> count
        }
        return Value.integer(result & w.mask, type: lt)
    }

    /// The step of pointer arithmetic: the pointee's size (1 for void, as
    /// GNU C has it); an error for an incomplete or oversized pointee.
    func pointeeSize(_ pointer: CType, _ range: SourceRange) throws -> UInt64 {
        guard let target = pointer.resolved.target else { return 1 }
        if target.resolved.kind == .void || target.resolved.kind == .function { return 1 }
        if let size = target.byteSize { return size }
        if target.sizeOverflows {
            throw EvaluationError("pointer arithmetic on \(pointer): \(target) is too large: its size in bytes does not fit 64 bits", at: range)
        }
        throw EvaluationError("pointer arithmetic on \(pointer): \(target) is incomplete (its size is unknown)", at: range)
    }

    func compare(_ op: BinaryOperator, _ a: UInt64, _ b: UInt64, signed: Bool) -> Bool {
        switch op {
        case .less: return a < b
        case .lessEqual: return a <= b
        case .greater: return a > b
        case .greaterEqual: return a >= b
        case .equal: return a == b
        default: return a != b
        }
    }

    func compareSigned(_ op: BinaryOperator, _ a: Int64, _ b: Int64) -> Bool {
        switch op {
        case .less: return a < b
        case .lessEqual: return a <= b
        case .greater: return a > b
        case .greaterEqual: return a >= b
        case .equal: return a == b
        default: return a != b
        }
    }

    func cast(_ v: Value, to t: CType, _ range: SourceRange) throws -> Value {
        let target = t.resolved
        switch target.kind {
        case .integer, .bool, .enumeration, .pointer:
            let rv = try rvalue(v, range)
            guard rv.type.isScalar else {
                throw EvaluationError("cannot cast \(v.type) to \(t)", at: range)
            }
            var bits = try rv.integerBits(memory)
            if target.kind == .bool { bits = bits != 0 ? 1 : 0 }
            // Truncate, then sign- or zero-extend by the target type.
            let w = IntegerWidth(t)
            bits = w.signed ? UInt64(bitPattern: w.extend(bits)) : bits & w.mask
            return Value.integer(bits, type: t)
        case .structure, .union, .array:
            // Reinterpret the object in place, as gdb does for lvalues.
            guard let a = v.address else { throw EvaluationError("cannot cast a value not in memory to \(t)", at: range) }
            return Value(type: t, address: a)
        case .void:
            return Value(type: t, bytes: [])
        default:
            throw EvaluationError("cannot cast to \(t)", at: range)
        }
    }

    /// Offset of a member path inside a type, and the member's type.
    func offset(in type: CType, _ path: MemberPath) throws -> (UInt64, CType) {
        var t = type
        var total: UInt64 = 0
        for c in path.components {
            switch c {
            case let .field(name, range):
                guard t.isAggregate else { throw EvaluationError("\(t) is not a struct or union; it has no member \"\(name)\"", at: range) }
                guard let (m, off) = t.member(named: name) else {
                    throw EvaluationError("\(TypeFormatter.name(of: t)) has no member named \"\(name)\"", at: range)
                }
                if m.bitSize != nil { throw EvaluationError("\"\(name)\" is a bitfield; it has no byte offset", at: range) }
                let (sum, o) = total.addingReportingOverflow(off)
                if o { throw EvaluationError("the offset of \"\(name)\" does not fit 64 bits", at: range) }
                total = sum
                t = m.type
            case let .index(node):
                let r = t.resolved
                guard r.kind == .array, let e = r.target, let es = e.byteSize else {
                    throw EvaluationError("\(t) is not an array", at: node.range)
                }
                let i = try signedInt(try evaluate(node), node.range)
                // offsetof is a size_t: the exact offset must be 0...2^64-1.
                let exact = Int128(total) + Int128(i) * Int128(es)
                guard exact >= 0, exact <= Int128(UInt64.max) else {
                    throw EvaluationError("offset of element \(i) is \(exact < 0 ? "negative" : "beyond 2^64")", at: node.range)
                }
                total = UInt64(exact)
                t = e
            }
        }
        return (total, t)
    }
}

