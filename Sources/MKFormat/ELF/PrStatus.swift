/// Where an architecture's `struct elf_prstatus` keeps the PID and the
/// registers (`pr_reg`, the architecture's `user_regs_struct`).
public struct PrStatusLayout: Sendable, Equatable {
    public var architecture: String
    /// Offset of `pr_pid` and of `pr_reg`.
    public var pidOffset: Int
    public var regsOffset: Int
    /// Register names in `pr_reg` order, each a 64-bit word.
    public var registerNames: [String]
    /// `sizeof(struct elf_prstatus)`: the descriptor of an `NT_PRSTATUS` note.
    public var size: Int

    public init(architecture: String, pidOffset: Int, regsOffset: Int, registerNames: [String], size: Int) {
        self.architecture = architecture
        self.pidOffset = pidOffset
        self.regsOffset = regsOffset
        self.registerNames = registerNames
        self.size = size
    }

    /// x86-64: `user_regs_struct` at 112.
    public static let x86_64 = PrStatusLayout(
        architecture: "x86-64", pidOffset: 32, regsOffset: 112,
        registerNames: ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
                        "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
                        "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"],
        size: 336)  // then pr_fpvalid and padding

    /// arm64: `user_pt_regs` (x0–x30, sp, pc, pstate) at 112.
    public static let arm64 = PrStatusLayout(
        architecture: "arm64", pidOffset: 32, regsOffset: 112,
        registerNames: (0...30).map { "x\($0)" } + ["sp", "pc", "pstate"],
        size: 392)  // then pr_fpvalid and padding

    /// The layout of cores of this ELF machine; nil for an unknown one.
    public static func forMachine(_ machine: UInt16?) -> PrStatusLayout? {
        switch machine {
        case nil, ElfHeader.emX86_64?: return .x86_64
        case ElfHeader.emAarch64?: return .arm64
        default: return nil
        }
    }
}

/// `struct elf_prstatus` from an `NT_PRSTATUS` note: the registers a CPU
/// saved when the dump was taken, by the architecture's names.
public struct PrStatus: Sendable, Equatable {
    /// x86-64 register names in `user_regs_struct` order.
    public static var registerNames: [String] { PrStatusLayout.x86_64.registerNames }

    public var pid: UInt32
    public var registers: [String: UInt64]

    /// Nil when the note is too short for the layout.
    public init?(note: ElfNote, layout: PrStatusLayout = .x86_64) {
        let r = ByteReader(note.descriptor, file: "NT_PRSTATUS note", base: note.offset)
        guard let pid = try? r.u32(layout.pidOffset) else { return nil }
        var regs: [String: UInt64] = [:]
        for (i, name) in layout.registerNames.enumerated() {
            guard let v = try? r.u64(layout.regsOffset + 8 * i) else { return nil }
            regs[name] = v
        }
        self.pid = pid
        self.registers = regs
    }
}
