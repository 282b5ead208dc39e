import MKFormat

/// x86-64 general registers by DWARF number (0 rax, 1 rdx, 2 rcx, 3 rbx,
/// 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8–15 r8–r15, 16 rip); a register whose
/// value is not known is nil.
public struct RegisterSet: Equatable, Sendable {
    public static let rax = 0, rdx = 1, rcx = 2, rbx = 3, rsi = 4, rdi = 5, rbp = 6, rsp = 7
    public static let r8 = 8, r9 = 9, r10 = 10, r11 = 11, r12 = 12, r13 = 13, r14 = 14, r15 = 15, rip = 16
    static let count = 17

    /// The `user_regs_struct`/`pt_regs` spelling of each DWARF number.
    static let prStatusNames = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                                "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]
    static let ptRegsNames = ["ax", "dx", "cx", "bx", "si", "di", "bp", "sp",
                              "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "ip"]

    var values = [UInt64?](repeating: nil, count: RegisterSet.count)
    /// The code segment selector, when known (its low two bits are the privilege level).
    public var cs: UInt64?

    public init() {}

    public subscript(_ regno: Int) -> UInt64? {
        get { regno >= 0 && regno < Self.count ? values[regno] : nil }
        set { if regno >= 0 && regno < Self.count { values[regno] = newValue } }
    }

    public var pc: UInt64? {
        get { self[Self.rip] }
        set { self[Self.rip] = newValue }
    }
    public var sp: UInt64? {
        get { self[Self.rsp] }
        set { self[Self.rsp] = newValue }
    }
    public var bp: UInt64? {
        get { self[Self.rbp] }
        set { self[Self.rbp] = newValue }
    }

    /// Whether these registers were saved in user mode (CPL 3).
    public var isUserMode: Bool {
        if let cs { return cs & 3 == 3 }
        if let pc { return pc < 0xffff_8000_0000_0000 }
        return false
    }

    /// The registers of an `NT_PRSTATUS` note.
    public init(prStatus: PrStatus) {
        for (i, name) in Self.prStatusNames.enumerated() { values[i] = prStatus.registers[name] }
        cs = prStatus.registers["cs"]
    }

    /// Forgets the registers a call may clobber (the System V ABI's
    /// caller-saved ones): what is left after unwinding through a call.
    mutating func dropCallerSaved() {
        for r in [Self.rax, Self.rdx, Self.rcx, Self.rsi, Self.rdi, Self.r8, Self.r9, Self.r10, Self.r11] {
            values[r] = nil
        }
    }
}
