/// ELF `e_machine` values a kernel image may carry, and the names people
/// know them by; which of them mkdbg can debug is the architecture table's
/// business (MKKernel), not the format's.
public enum ElfMachine {
    static let names: [UInt16: String] = [
        3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm", 43: "sparc64",
        62: "x86-64", 183: "arm64", 243: "riscv64", 258: "loongarch64",
    ]

    /// The architecture's usual name (`arm64` for 183), nil for one not listed.
    public static func name(_ machine: UInt16) -> String? { names[machine] }

    /// `arm64 (ELF machine 183)`, or `ELF machine N` when the name is not known.
    public static func describe(_ machine: UInt16) -> String {
        name(machine).map { "\($0) (ELF machine \(machine))" } ?? "ELF machine \(machine)"
    }
}
