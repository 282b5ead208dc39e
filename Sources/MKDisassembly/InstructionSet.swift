/// The instruction set a `Disassembler` decodes. The architecture table
/// (`Architecture.instructionSet` in MKKernel) says which one a dump's
/// kernel runs.
public enum InstructionSet: String, Sendable, CaseIterable {
    case x86_64 = "x86-64"
    case arm64

    /// The longest instruction: how far ahead a decode may need to read.
    public var maxInstructionLength: Int {
        switch self {
        case .x86_64: return 15
        case .arm64: return 4
        }
    }

    /// How far a bytes sequence that does not decode is skipped, as objdump
    /// does: one byte on x86 (`(bad)`), one 4-byte word on arm64.
    public var undecodableStep: Int {
        switch self {
        case .x86_64: return 1
        case .arm64: return 4
        }
    }

    /// Whether `set disassembly-flavor` changes how it is written (x86 only).
    public var hasFlavors: Bool { self == .x86_64 }
}

/// How x86 instructions are written: AT&T (gdb's and objdump's default) or Intel.
public enum DisassemblyFlavor: String, Sendable, CaseIterable {
    case att
    case intel
}
