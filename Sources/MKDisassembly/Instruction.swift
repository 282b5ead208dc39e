/// One decoded instruction, at its run-time address.
public struct Instruction: Equatable, Sendable {
    public var address: UInt64
    public var bytes: [UInt8]
    /// As capstone spells it, less AT&T size suffixes objdump leaves out
    /// (`call`, `mov %rsp,%rbp`, but `movq $0x0,(%rax)`); `(bad)` when the bytes do not decode.
    public var mnemonic: String
    /// The operands, comma-separated without spaces as objdump and gdb write them.
    public var operands: String
    public var isCall: Bool
    /// A jump, conditional or not (not a call or return).
    public var isJump: Bool
    public var isReturn: Bool
    /// Where a direct call or jump goes.
    public var branchTarget: UInt64?
    /// The address a pc-relative memory operand names (x86 `0x10(%rip)`).
    public var memoryReference: UInt64?

    public init(address: UInt64, bytes: [UInt8], mnemonic: String, operands: String, isCall: Bool = false,
                isJump: Bool = false, isReturn: Bool = false, branchTarget: UInt64? = nil, memoryReference: UInt64? = nil) {
        self.address = address
        self.bytes = bytes
        self.mnemonic = mnemonic
        self.operands = operands
        self.isCall = isCall
        self.isJump = isJump
        self.isReturn = isReturn
        self.branchTarget = branchTarget
        self.memoryReference = memoryReference
    }

    /// What objdump prints for a byte sequence that does not decode.
    public static let badMnemonic = "(bad)"

    /// A byte that does not start a valid instruction.
    public static func bad(at address: UInt64, bytes: [UInt8]) -> Instruction {
        Instruction(address: address, bytes: bytes, mnemonic: badMnemonic, operands: "")
    }

    public var isValid: Bool { mnemonic != Self.badMnemonic }

    /// The address after it (wrapping at the top of the address space).
    public var end: UInt64 { address &+ UInt64(bytes.count) }

    /// `mnemonic operands`, the mnemonic padded to 6 columns as objdump and gdb do.
    public var text: String {
        guard !operands.isEmpty else { return mnemonic }
        let pad = max(1, 7 - mnemonic.count)
        return mnemonic + String(repeating: " ", count: pad) + operands
    }

    /// The bytes in hex, space-separated (`/r`).
    public var hexBytes: String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: " ")
    }
}
