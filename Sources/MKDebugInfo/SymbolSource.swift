/// Where a target's symbols came from.
public enum SymbolSource: Equatable, Sendable {
    /// The matching vmlinux's ELF symbol table (its path).
    case vmlinux(String)
    /// The kernel's own kallsyms tables, read from its memory (how many symbols).
    case kallsyms(count: Int)
    /// None: no vmlinux, and no kallsyms the image exports.
    case none
}
