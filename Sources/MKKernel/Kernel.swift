import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// A kernel as the helpers see it: typed objects by name, types by name,
/// and reads, all through the target's DWARF (never hard-coded offsets).
/// Like drgn's Program, it is what `ps`, `log`, `bt` and friends are
/// written against.
public final class Kernel {
    public let target: Target
    public let evaluator: Evaluator
    public var memory: KernelMemory { target.memory }
    /// Types and typed globals: DWARF, or BTF from memory.
    public var types: any TypeSource { evaluator.types }
    /// The vmlinux's DWARF; nil without a debug package (BTF types).
    public var dwarf: DebugInfo? { evaluator.debugInfo }
    var cachedPerCPUOffsets: [UInt64]? {
        get { cachedOffsets ?? target.derivedPerCPUOffsets }
        set { cachedOffsets = newValue }
    }
    private var cachedOffsets: [UInt64]?
    /// CPUs 0..<n whose runqueues were found without `__per_cpu_offset` (DerivedSymbols).
    var derivedCPUCount: Int? { target.derivedPerCPUOffsets?.count }
    /// The task list's addresses, kept while memory does not change (an image, a frozen
    /// instance: the page cache is on): `foreach bt` asks it once per task.
    var cachedTaskAddresses: Set<UInt64>?

    public init(target: Target, evaluator: Evaluator) {
        self.target = target
        self.evaluator = evaluator
        if let btf = evaluator.types as? BtfTypes {
            deriveMissingSymbols()
            KernelGlobals.declare(in: btf, symbols: target.symbols)
            installModuleBtf(btf)
        } else if let btf = (evaluator.types as? BtfFirstTypes)?.btf {
            KernelGlobals.declare(in: btf, symbols: target.symbols)
        }
    }

    /// A global variable (or function) as an object.
    public func object(_ name: String) throws -> KObject {
        // The helpers mean globals: never a selected frame's local of the same
        // name (a `prb` argument in a printk frame), nor a stack walk to look for one.
        let scope = evaluator.frameScope
        evaluator.frameScope = nil
        defer { evaluator.frameScope = scope }
        return KObject(try evaluator.evaluate(name), self)
    }

    /// An object of `type` at `address`.
    public func object(_ type: CType, at address: UInt64) -> KObject {
        KObject(Value(type: type, address: address), self)
    }

    /// `struct X`, `union X`, a typedef or base type, by name.
    public func type(_ spelled: String) throws -> CType {
        guard let t = types.findType(spelled) else {
            throw KernelError.missingType(spelled)
        }
        return t
    }

    public func has(variable name: String) -> Bool { types.variable(name) != nil }

    /// A global's type (and, from DWARF, where it is declared).
    public func variable(_ name: String) -> VariableInfo? { types.variable(name) }

    /// The address of a symbol, from the relocated symbol table.
    public func address(of symbol: String) throws -> UInt64 {
        try target.address(of: symbol)
    }

    /// Byte offset of a member path (`"tasks"`, `"se.vruntime"`) in a type.
    public func offset(of path: String, in type: CType) throws -> UInt64 {
        try memberPath(path, in: type).offset
    }

    /// Follows a dotted member path through a type (anonymous members
    /// included): its byte offset, its type, and the last member.
    func memberPath(_ path: String, in type: CType) throws -> (offset: UInt64, type: CType, member: CType.Member?) {
        do {
            return try type.memberPath(path)
        } catch let MemberPathError.missingMember(t, m) {
            throw KernelError.missingMember(t, m)
        }
    }

    public func readU64(_ address: UInt64) throws -> UInt64 { try memory.readVirtualU64(address) }
}
