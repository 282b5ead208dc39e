import MKFormat
import MKMemory
import MKDebugInfo

/// Where (a piece of) a value described by a DWARF location lives.
enum DwarfPiece: Equatable {
    /// In target memory at this address.
    case memory(UInt64)
    /// Only here: a register's contents, a stack value, an implicit value
    /// (little-endian bytes).
    case bytes([UInt8])
    /// Optimized out.
    case empty
}

/// A location expression's result: one location, or the pieces of a
/// composite value with their sizes in bytes.
enum DwarfLocation: Equatable {
    case simple(DwarfPiece)
    case composite([(piece: DwarfPiece, size: UInt64)])

    static func == (a: DwarfLocation, b: DwarfLocation) -> Bool {
        switch (a, b) {
        case let (.simple(x), .simple(y)): return x == y
        case let (.composite(x), .composite(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.piece == $1.piece && $0.size == $1.size }
        default: return false
        }
    }
}

/// The DWARF expression machine: CFI rules (`evaluate`, with the CFA
/// pushed first) and location descriptions of variables (`location`, with
/// the frame's CFA, frame base and entry values). Bounded: operations run,
/// stack depth, pieces and value size.
struct DwarfExpression {
    let registers: RegisterSet
    let memory: KernelMemory
    /// The frame's canonical frame address (`DW_OP_call_frame_cfa`).
    var cfa: UInt64?
    /// The function's frame base, evaluated (`DW_OP_fbreg`).
    var frameBase: UInt64?
    /// Added to `DW_OP_addr` operands (the KASLR offset).
    var relocation: UInt64 = 0
    /// The value a `DW_OP_entry_value` expression had at the function's
    /// entry (resolved through the caller's call site); nil: none known.
    var entryValue: (([DwarfOp]) throws -> UInt64)?

    static let maxSteps = 1024
    static let maxStack = 64
    static let maxPieces = 64
    static let maxValueSize: UInt64 = 4096

    struct Unsupported: Error, CustomStringConvertible {
        let atom: UInt8
        var description: String { "unsupported DWARF operation \(hex(atom))" }
    }
    struct Unknown: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }
    /// What the expression needs is not known in this frame (a register not
    /// saved, no entry value): the value is optimized out here.
    struct Unavailable: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }

    /// Evaluates CFI `ops` with `initial` pushed first (when given); returns
    /// the top of the stack and whether it is a value (`DW_OP_stack_value`,
    /// or a register's contents) rather than an address.
    mutating func evaluate(_ ops: [DwarfOp], initial: UInt64?) throws -> (UInt64, Bool) {
        var machine = Machine(expression: self, registerPushes: true)
        if cfa == nil { machine.cfaFallback = initial }
        if let initial { machine.stack.append(initial) }
        try machine.run(ops)
        return (try machine.pop(), machine.isValue)
    }

    /// A location description's result.
    func location(_ ops: [DwarfOp]) throws -> DwarfLocation {
        var machine = Machine(expression: self, registerPushes: false)
        try machine.run(ops)
        return try machine.finish()
    }

    /// The operations' value as an address-sized number (frame bases, call
    /// values): a memory location's address, a register's contents.
    func number(_ ops: [DwarfOp]) throws -> UInt64 {
        switch try location(ops) {
        case let .simple(.memory(a)): return a
        case let .simple(.bytes(b)): return Self.littleEndian(b)
        case .simple(.empty): throw Unavailable(what: "the expression has no value")
        case .composite: throw Unknown(what: "a composite location where a number was expected")
        }
    }

    static func littleEndian(_ b: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for (i, x) in b.prefix(8).enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        return v
    }

    static func bytes(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// One evaluation's state.
    private struct Machine {
        let expression: DwarfExpression
        /// CFI's `DW_OP_regN` pushes the register (the old behaviour); a
        /// location's names where the value is.
        let registerPushes: Bool
        var cfaFallback: UInt64?
        var stack: [UInt64] = []
        var isValue = false
        var pending: DwarfPiece?
        var pieces: [(piece: DwarfPiece, size: UInt64)] = []
        var total: UInt64 = 0

        init(expression: DwarfExpression, registerPushes: Bool) {
            self.expression = expression
            self.registerPushes = registerPushes
        }

        mutating func pop() throws -> UInt64 {
            guard let v = stack.popLast() else { throw Unknown(what: "DWARF expression stack underflow") }
            return v
        }

        mutating func push(_ v: UInt64) throws {
            guard stack.count < DwarfExpression.maxStack else {
                throw Unknown(what: "DWARF expression stack deeper than \(DwarfExpression.maxStack)")
            }
            stack.append(v)
        }

        func reg(_ n: UInt64) throws -> UInt64 {
            guard n < 1 << 16, let v = expression.registers[Int(n)] else {
                throw Unavailable(what: "DWARF register \(n) is not known in this frame")
            }
            return v
        }

        func read(_ address: UInt64, size: UInt64) throws -> UInt64 {
            guard size >= 1, size <= 8 else { throw Unknown(what: "DW_OP_deref_size \(size)") }
            let b = try expression.memory.readVirtual(address, count: Int(size))
            return DwarfExpression.littleEndian(b)
        }

        /// The location so far, for a piece or the end.
        mutating func current() throws -> DwarfPiece {
            if let p = pending { return p }
            if isValue { return .bytes(DwarfExpression.bytes(try pop())) }
            guard let top = stack.last else { return .empty }
            return .memory(top)
        }

        mutating func finish() throws -> DwarfLocation {
            if pieces.isEmpty { return .simple(try current()) }
            return .composite(pieces)
        }

        mutating func binary(_ f: (UInt64, UInt64) throws -> UInt64) throws {
            let b = try pop(), a = try pop()
            try push(try f(a, b))
        }

        mutating func run(_ ops: [DwarfOp]) throws {
            var i = 0
            var steps = 0
            while i < ops.count {
                steps += 1
                guard steps <= DwarfExpression.maxSteps else {
                    throw Unknown(what: "DWARF expression ran more than \(DwarfExpression.maxSteps) operations")
                }
                let op = ops[i]
                i += 1
                let a = op.atom
                if pending != nil, a != 0x93, a != 0x9d {
                    throw Unknown(what: "DWARF operation \(hex(a)) after a register or implicit location")
                }
                switch a {
                case 0x03: try push(op.number &+ expression.relocation) // DW_OP_addr
                case 0x06: try push(try read(try pop(), size: 8)) // DW_OP_deref
                case 0x94: try push(try read(try pop(), size: op.number)) // DW_OP_deref_size
                case 0x08...0x11: try push(op.number) // DW_OP_const*: libdw sign-extends the signed ones
                case 0x30...0x4f: try push(UInt64(a - 0x30)) // DW_OP_lit*
                case 0x12: try push(try peek(0)) // DW_OP_dup
                case 0x13: _ = try pop() // DW_OP_drop
                case 0x14: try push(try peek(1)) // DW_OP_over
                case 0x15: try push(try peek(op.number)) // DW_OP_pick
                case 0x16: // DW_OP_swap
                    let b = try pop(), c = try pop()
                    try push(b)
                    try push(c)
                case 0x17: // DW_OP_rot
                    let x = try pop(), y = try pop(), z = try pop()
                    try push(x)
                    try push(z)
                    try push(y)
                case 0x19: // DW_OP_abs
                    let v = Int64(bitPattern: try pop())
                    try push(v < 0 ? UInt64(bitPattern: 0 &- v) : UInt64(v))
                case 0x1a: try binary { $0 & $1 }
                case 0x1b: // DW_OP_div (signed)
                    try binary { x, y in
                        guard y != 0 else { throw Unknown(what: "DW_OP_div by zero") }
                        return UInt64(bitPattern: Int64(bitPattern: x).dividedReportingOverflow(by: Int64(bitPattern: y)).partialValue)
                    }
                case 0x1c: try binary { $0 &- $1 }
                case 0x1d: // DW_OP_mod
                    try binary { x, y in
                        guard y != 0 else { throw Unknown(what: "DW_OP_mod by zero") }
                        return x % y
                    }
                case 0x1e: try binary { $0 &* $1 }
                case 0x1f: try push(0 &- (try pop())) // DW_OP_neg
                case 0x20: try push(~(try pop())) // DW_OP_not
                case 0x21: try binary { $0 | $1 }
                case 0x22: try binary { $0 &+ $1 }
                case 0x23: try push(try pop() &+ op.number) // DW_OP_plus_uconst
                case 0x24: try binary { $1 >= 64 ? 0 : $0 << $1 }
                case 0x25: try binary { $1 >= 64 ? 0 : $0 >> $1 }
                case 0x26: try binary { UInt64(bitPattern: Int64(bitPattern: $0) >> min($1, 63)) }
                case 0x27: try binary { $0 ^ $1 }
                case 0x29...0x2e: // DW_OP_eq, ge, gt, le, lt, ne (signed)
                    try binary { x, y in
                        let l = Int64(bitPattern: x), r = Int64(bitPattern: y)
                        let t: Bool
                        switch a {
                        case 0x29: t = l == r
                        case 0x2a: t = l >= r
                        case 0x2b: t = l > r
                        case 0x2c: t = l <= r
                        case 0x2d: t = l < r
                        default: t = l != r
                        }
                        return t ? 1 : 0
                    }
                case 0x28, 0x2f: // DW_OP_bra, DW_OP_skip
                    if a == 0x28, try pop() == 0 { continue }
                    let delta = Int64(Int16(truncatingIfNeeded: op.number))
                    let target = UInt64(bitPattern: Int64(bitPattern: op.offset) &+ 3 &+ delta)
                    if let j = ops.firstIndex(where: { $0.offset == target }) {
                        i = j
                    } else if target > ops.last?.offset ?? 0 {
                        i = ops.count
                    } else {
                        throw Unknown(what: "DWARF branch to offset \(target), which starts no operation")
                    }
                case 0x50...0x6f, 0x90: // DW_OP_reg*, DW_OP_regx
                    let n = a == 0x90 ? op.number : UInt64(a - 0x50)
                    if registerPushes {
                        try push(try reg(n))
                        isValue = true
                    } else {
                        pending = .bytes(DwarfExpression.bytes(try reg(n)))
                    }
                case 0x70...0x8f: try push(try reg(UInt64(a - 0x70)) &+ op.number) // DW_OP_breg*
                case 0x92: try push(try reg(op.number) &+ op.number2) // DW_OP_bregx
                case 0x91: // DW_OP_fbreg
                    guard let base = expression.frameBase else { throw Unavailable(what: "the frame base is not known here") }
                    try push(base &+ op.number)
                case 0x9c: // DW_OP_call_frame_cfa
                    guard let cfa = expression.cfa ?? cfaFallback else {
                        throw Unavailable(what: "the frame's CFA is not known here")
                    }
                    try push(cfa)
                case 0x96: break // DW_OP_nop
                case 0x9f: isValue = true // DW_OP_stack_value
                case 0x9e: // DW_OP_implicit_value
                    guard UInt64(op.block.count) <= DwarfExpression.maxValueSize else { throw Unknown(what: "implicit value too large") }
                    pending = .bytes(op.block)
                case 0xa3, 0xf3: // DW_OP_entry_value, DW_OP_GNU_entry_value
                    guard let entry = expression.entryValue else {
                        throw Unavailable(what: "no entry value: the caller's call site is not known")
                    }
                    try push(try entry(op.nested))
                case 0xa0, 0xf2: // DW_OP_implicit_pointer: the object pointed to has no address
                    throw Unavailable(what: "an implicit pointer (the object pointed to was optimized away)")
                case 0x93, 0x9d: // DW_OP_piece, DW_OP_bit_piece
                    var size = op.number
                    if a == 0x9d {
                        guard op.number % 8 == 0, op.number2 == 0 else {
                            throw Unknown(what: "DW_OP_bit_piece of \(op.number) bits at bit \(op.number2)")
                        }
                        size = op.number / 8
                    }
                    let piece = try current()
                    let (sum, o) = total.addingReportingOverflow(size)
                    guard !o, sum <= DwarfExpression.maxValueSize, pieces.count < DwarfExpression.maxPieces else {
                        throw Unknown(what: "composite value larger than \(DwarfExpression.maxValueSize) bytes or \(DwarfExpression.maxPieces) pieces")
                    }
                    pieces.append((piece, size))
                    total = sum
                    pending = nil
                    isValue = false
                    stack.removeAll()
                default:
                    throw Unsupported(atom: a)
                }
            }
        }

        func peek(_ depth: UInt64) throws -> UInt64 {
            guard depth < UInt64(stack.count) else { throw Unknown(what: "DWARF expression stack underflow") }
            return stack[stack.count - 1 - Int(depth)]
        }
    }
}
