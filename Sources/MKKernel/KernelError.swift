/// What the kernel layer cannot do with this kernel; each case is a kind
/// `--json` reports with its fields (docs/json.md, "Errors").
public enum KernelError: Error, CustomStringConvertible {
    case missingType(String)
    case missingMember(String, String)
    case missingSymbol(String)
    /// A structure whose layout mkdbg does not know or cannot use: `what` names it
    /// (`struct pt_regs`, `struct module`, `the printk ring buffer`).
    case unsupportedLayout(what: String, message: String)
    /// A value read from the kernel that cannot be right (`nr_cpu_ids` of 0, a NULL `prb`):
    /// `what` names it, `value` as read when it is a number, `address` where it lives when known.
    case implausible(what: String, value: UInt64?, address: UInt64?, message: String)
    /// An object the kernel layer needs the address of has none.
    case notInMemory(what: String, message: String)
    /// An object of a type the operation does not apply to.
    case wrongType(type: String, message: String)
    /// An index outside what the kernel has (a CPU id, an array element).
    case outOfRange(value: UInt64?, maximum: UInt64?, message: String)
    /// A name that is not what the caller said it is (a variable outside the per-CPU section).
    case notPerCPU(String)
    /// The image is of an architecture without a table: its ELF machine and, when known, its name.
    case unsupportedArchitecture(machine: UInt16, name: String?, message: String)

    public var description: String {
        switch self {
        case let .missingType(t): return "the kernel's debug info has no type \(t)"
        case let .missingMember(t, m): return "\(t) has no member \(m) in this kernel"
        case let .missingSymbol(s): return "the kernel has no symbol \(s)"
        case let .notPerCPU(name): return "\(name) is not a per-CPU variable"
        case let .unsupportedLayout(_, message), let .implausible(_, _, _, message), let .notInMemory(_, message),
             let .wrongType(_, message), let .outOfRange(_, _, message), let .unsupportedArchitecture(_, _, message):
            return message
        }
    }
}
