/// x86-64 `struct elf_prstatus` from an `NT_PRSTATUS` note: the registers a
/// CPU saved when the dump was taken.
public struct PrStatus: Sendable, Equatable {
    /// Register names in `user_regs_struct` order.
    public static let registerNames = [
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
        "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
        "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
    ]
    /// Offset of `pr_pid` and of `pr_reg` in the x86-64 layout.
    static let pidOffset = 32
    static let regsOffset = 112

    public var pid: UInt32
    public var registers: [String: UInt64]

    public init?(note: ElfNote) {
        let r = ByteReader(note.descriptor, file: "NT_PRSTATUS note", base: note.offset)
        guard let pid = try? r.u32(Self.pidOffset) else { return nil }
        var regs: [String: UInt64] = [:]
        for (i, name) in Self.registerNames.enumerated() {
            guard let v = try? r.u64(Self.regsOffset + 8 * i) else { return nil }
            regs[name] = v
        }
        self.pid = pid
        self.registers = regs
    }
}
