/// Where types and typed globals come from: the vmlinux's DWARF, or the
/// kernel's BTF read from its memory when there is no debug package. The
/// evaluator and the kernel helpers ask this, never DWARF directly, so they
/// work unchanged from either; what only DWARF knows (locals, CFI, source
/// lines) hangs off `dwarfInfo`.
public protocol TypeSource: AnyObject {
    /// The DWARF behind it; nil when types come from BTF.
    var dwarfInfo: DebugInfo? { get }
    /// For `info image`: "DWARF from FILE", "BTF from memory (N types)".
    var typeSourceName: String { get }
    /// `struct X`, `union X`, `enum X`, or a typedef or base type name.
    func findType(_ spelled: String) -> CType?
    /// A typedef or base type name (so `(u64)x` parses as a cast).
    func isTypeName(_ name: String) -> Bool
    func variable(_ name: String) -> VariableInfo?
    func function(_ name: String) -> FunctionInfo?
    func enumerator(_ name: String) -> (type: CType, value: Int64)?
    /// Names close to `name`, for "did you mean".
    func suggestions(for name: String, kinds: Set<IndexKind>, limit: Int) -> [String]
    /// Names starting with `prefix`, for completion.
    func names(withPrefix prefix: String, kinds: Set<IndexKind>, limit: Int) -> [String]
    func typeNames(kind: IndexKind) -> [String]
}

extension TypeSource {
    public func suggestions(for name: String, kinds: Set<IndexKind>) -> [String] {
        suggestions(for: name, kinds: kinds, limit: 3)
    }
}

/// A global variable's type and, from DWARF, where it was linked and declared.
public struct VariableInfo {
    public var name: String
    public var type: CType
    /// The link-time address from DWARF (not relocated), when static.
    public var linkAddress: UInt64?
    public var declFile: String?
    public var declLine: Int?

    public init(name: String, type: CType, linkAddress: UInt64? = nil, declFile: String? = nil, declLine: Int? = nil) {
        self.name = name
        self.type = type
        self.linkAddress = linkAddress
        self.declFile = declFile
        self.declLine = declLine
    }
}

public struct FunctionInfo {
    public var name: String
    public var type: CType
    public var linkAddress: UInt64?
    public var declFile: String?
    public var declLine: Int?

    public init(name: String, type: CType, linkAddress: UInt64? = nil, declFile: String? = nil, declLine: Int? = nil) {
        self.name = name
        self.type = type
        self.linkAddress = linkAddress
        self.declFile = declFile
        self.declLine = declLine
    }
}
