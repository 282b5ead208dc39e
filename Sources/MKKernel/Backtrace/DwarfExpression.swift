import MKFormat
import MKMemory
import MKDebugInfo

/// A small DWARF expression evaluator: what CFI rules use (register
/// bases, constants, CFA, arithmetic, dereference, stack_value).
struct DwarfExpression {
    let registers: RegisterSet
    let memory: KernelMemory

    struct Unsupported: Error, CustomStringConvertible {
        let atom: UInt8
        var description: String { "unsupported DWARF operation \(hex(atom))" }
    }
    struct Unknown: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }

    /// Evaluates `ops` with `initial` pushed first (when given); returns the
    /// top of the stack and whether it is a value (`DW_OP_stack_value`)
    /// rather than an address.
    mutating func evaluate(_ ops: [DwarfOp], initial: UInt64?) throws -> (UInt64, Bool) {
        var stack: [UInt64] = initial.map { [$0] } ?? []
        var isValue = false
        func pop() throws -> UInt64 {
            guard let v = stack.popLast() else { throw Unknown(what: "DWARF expression stack underflow") }
            return v
        }
        func reg(_ n: Int) throws -> UInt64 {
            guard let v = registers[n] else { throw Unknown(what: "DWARF register \(n) is unknown here") }
            return v
        }
        for op in ops.prefix(64) {
            let a = op.atom
            switch a {
            case 0x70...0x8f: // DW_OP_breg0..31
                stack.append(try reg(Int(a - 0x70)) &+ op.number)
            case 0x92: // DW_OP_bregx
                stack.append(try reg(Int(op.number)) &+ op.number2)
            case 0x50...0x6f: // DW_OP_reg0..31: the value is in the register
                stack.append(try reg(Int(a - 0x50)))
                isValue = true
            case 0x90: // DW_OP_regx
                stack.append(try reg(Int(op.number)))
                isValue = true
            case 0x9c: // DW_OP_call_frame_cfa
                guard let initial else { throw Unknown(what: "DW_OP_call_frame_cfa outside a register rule") }
                stack.append(initial)
            case 0x30...0x4f: // DW_OP_lit0..31
                stack.append(UInt64(a - 0x30))
            case 0x08...0x11: // DW_OP_const1u .. DW_OP_consts
                stack.append(op.number)
            case 0x23: // DW_OP_plus_uconst
                stack.append(try pop() &+ op.number)
            case 0x22: // DW_OP_plus
                let b = try pop(), x = try pop()
                stack.append(x &+ b)
            case 0x1c: // DW_OP_minus
                let b = try pop(), x = try pop()
                stack.append(x &- b)
            case 0x06: // DW_OP_deref
                stack.append(try memory.readVirtualU64(try pop()))
            case 0x9f: // DW_OP_stack_value
                isValue = true
            default:
                throw Unsupported(atom: a)
            }
        }
        return (try pop(), isValue)
    }
}
