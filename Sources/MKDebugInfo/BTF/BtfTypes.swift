import MKMemory

/// Types from the kernel's BTF, as `CType`s: what stands in for DWARF when
/// no debug package is at hand. BTF has every struct, union, enum, typedef
/// and function prototype, the per-CPU variables (VAR records) and the
/// functions (FUNC); it has no other globals, so helpers declare the types
/// of the globals they use (`declare`).
public final class BtfTypes: TypeSource {
    public let file: BtfFile
    /// Under a module's split BTF: the vmlinux's types its ids continue. Not owned: the
    /// vmlinux's BtfTypes holds its modules (as CTypes' loaders do not own their BtfTypes).
    public var base: BtfTypes? { baseStorage }
    private unowned let baseStorage: BtfTypes?
    /// The module whose split BTF this is; nil for the vmlinux's.
    public let moduleName: String?
    private var byId: [Int: CType] = [:]
    private var names: [IndexKind: [String: Int]] = [:]
    /// enumerator name → the id of its enum
    private var enumerators: [String: Int] = [:]
    private var declared: [String: CType] = [:]
    private var depth = 0
    /// Structs and unions whose members are being read.
    private var building = Set<Int>()
    static let maxDepth = 200
    /// A kernel's .BTF is a few MB (6.12 cloud: 4.7 MB); more is not BTF.
    static let maxBytes: UInt64 = 64 << 20

    /// Reads the loaded modules' split BTF, asked the first time a name is
    /// not the vmlinux's (the kernel helpers install it): module types are
    /// looked up after the vmlinux's, in the order it gives.
    /// (nil from it: cannot read now, ask again later).
    public var moduleLoader: (() -> ModuleBtfSet?)?
    private var loadedModules: ModuleBtfSet?
    private var loadingModules = false

    public var dwarfInfo: DebugInfo? { nil }
    public var typeSourceName: String {
        var name = "BTF in the kernel's memory (\(file.typeCount) types"
        if let m = loadedModules, !m.modules.isEmpty {
            name += "; \(m.modules.count) modules' split BTF, \(m.modules.reduce(0) { $0 + $1.file.typeCount }) types"
        }
        return name + ")"
    }

    /// The vmlinux's types (`file` has no base), or a whole chain of split
    /// files on their bases (each indexed here, the base's names first).
    public convenience init(file: BtfFile) {
        self.init(file: file, base: nil, moduleName: nil)
    }

    /// A module's split BTF over the vmlinux's types: only its own records
    /// are indexed here, lower ids are the base's.
    public convenience init(module: String, file: BtfFile, base: BtfTypes) throws {
        guard file.base === base.file else {
            throw BtfError.malformed(source: file.source, offset: 0, detail: "module \(module)'s BTF was not parsed on the vmlinux's")
        }
        self.init(file: file, base: base, moduleName: module)
    }

    private init(file: BtfFile, base: BtfTypes?, moduleName: String?) {
        self.file = file
        self.baseStorage = base
        self.moduleName = moduleName
        var all: [BtfFile] = []
        var f: BtfFile? = file
        while let g = f, base == nil || g === file { all.insert(g, at: 0); f = g.base }
        for g in all {
            for (i, r) in g.records.enumerated() {
                let id = g.firstId + i
                guard let kind = Self.indexKind(r.kind) else { continue }
                guard let name = g.string(r.nameOffset) else { continue }
                if names[kind]?[name] == nil { names[kind, default: [:]][name] = id }
                if r.kind == .enumeration || r.kind == .enumeration64 {
                    let stride = r.kind == .enumeration ? 8 : 12
                    for e in 0..<r.vlen {
                        if let n = g.string(g.u32(r.payload + e * stride)), enumerators[n] == nil { enumerators[n] = id }
                    }
                }
            }
        }
    }

    /// The modules' split BTF, read once (on first need) by `moduleLoader`.
    public func modules() -> ModuleBtfSet {
        if let loadedModules { return loadedModules }
        guard base == nil, let moduleLoader, !loadingModules else { return ModuleBtfSet() }
        loadingModules = true
        defer { loadingModules = false }
        guard let set = moduleLoader() else { return ModuleBtfSet() }
        loadedModules = set
        return set
    }

    /// A name this file (not its base, not the modules) defines.
    private func ownId(_ kind: IndexKind, _ name: String) -> Int? { names[kind]?[name] }

    /// The first answer from the vmlinux, then from each module in load order.
    private func firstAnswer<T>(_ ask: (BtfTypes) -> T?) -> T? {
        if let a = ask(self) { return a }
        guard base == nil else { return nil }
        for m in modules().modules { if let a = ask(m) { return a } }
        return nil
    }

    /// The running kernel's BTF, read between `__start_BTF` and `__stop_BTF`.
    public static func load(memory: KernelMemory, symbols: SymbolTable, image: String) throws -> BtfTypes {
        guard let start = symbols.lookup("__start_BTF")?.address, let stop = symbols.lookup("__stop_BTF")?.address else {
            throw BtfError.notFound("the kernel's symbols have no __start_BTF/__stop_BTF (a kernel without CONFIG_DEBUG_INFO_BTF)")
        }
        guard stop > start, stop - start <= maxBytes else {
            throw BtfError.notFound("__start_BTF 0x\(String(start, radix: 16)) to __stop_BTF 0x\(String(stop, radix: 16)) is not 1 byte to 64 MiB")
        }
        let source = "\(image) (kernel memory)"
        let bytes: [UInt8]
        do {
            bytes = try memory.readVirtual(start, count: Int(stop - start))
        } catch {
            throw BtfError.unreadable(source: source, address: start, reason: "\(error)")
        }
        return BtfTypes(file: try BtfFile(bytes: bytes, source: source))
    }

    /// Gives a global BTF has no VAR record for its type (`init_task`: struct task_struct).
    public func declare(_ name: String, type: CType) {
        declared[name] = type
    }

    /// The first unnamed struct with a member called `member` (a global
    /// declared as `static struct { … } tk_core`).
    public func anonymousStruct(withMember member: String) -> CType? {
        var f: BtfFile? = file
        while let g = f, base == nil || g === file {
            for (i, r) in g.records.enumerated() where r.kind == .structure && r.nameOffset == 0 {
                for m in 0..<r.vlen where g.string(g.u32(r.payload + m * 12)) == member {
                    return type(g.firstId + i)
                }
            }
            f = g.base
        }
        return nil
    }

    /// The variables of a DATASEC (`.data..percpu`: every per-CPU variable, at its
    /// offset in the section) and the section's size; nil when BTF has no such section.
    public func dataSection(_ name: String) -> (size: UInt64, variables: [(name: String, offset: UInt64, size: UInt64)])? {
        guard let r = file.records.first(where: { $0.kind == .dataSection && file.string($0.nameOffset) == name }) else { return nil }
        var variables: [(name: String, offset: UInt64, size: UInt64)] = []
        for v in 0..<r.vlen {
            let at = r.payload + v * 12
            guard let (f, vr) = file.record(Int(file.u32(at))), vr.kind == .variable, let n = f.string(vr.nameOffset) else { continue }
            variables.append((n, UInt64(file.u32(at + 4)), UInt64(file.u32(at + 8))))
        }
        return (UInt64(r.sizeOrType), variables)
    }

    static func indexKind(_ kind: BtfKind) -> IndexKind? {
        switch kind {
        case .structure: return .structure
        case .union: return .union
        case .enumeration, .enumeration64: return .enumeration
        case .typedef: return .typedef
        case .int, .float: return .base
        case .function: return .function
        case .variable: return .variable
        default: return nil
        }
    }

    // MARK: TypeSource

    public func findType(_ spelled: String) -> CType? {
        let words = spelled.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2, let kind = ["struct": IndexKind.structure, "union": .union, "enum": .enumeration][words[0]] {
            return firstAnswer { t in t.ownId(kind, words[1]).map { t.type($0) } }
        }
        return firstAnswer { t in (t.ownId(.typedef, spelled) ?? t.ownId(.base, spelled)).map { t.type($0) } }
    }

    public func isTypeName(_ name: String) -> Bool {
        // Asked of every identifier an expression has: the modules only once the vmlinux's types did not answer.
        firstAnswer { t in t.ownId(.typedef, name) ?? t.ownId(.base, name) } != nil
    }

    public func variable(_ name: String) -> VariableInfo? {
        if let id = names[.variable]?[name], let (_, r) = file.record(id) {
            return VariableInfo(name: name, type: type(Int(r.sizeOrType)))
        }
        return declared[name].map { VariableInfo(name: name, type: $0) }
    }

    public func function(_ name: String) -> FunctionInfo? {
        firstAnswer { t in t.ownId(.function, name).map { FunctionInfo(name: name, type: t.type($0)) } }
    }

    public func enumerator(_ name: String) -> (type: CType, value: Int64)? {
        firstAnswer { t -> (type: CType, value: Int64)? in
            guard let id = t.enumerators[name] else { return nil }
            let e = t.type(id)
            guard let v = e.enumerators.first(where: { $0.name == name }) else { return nil }
            return (e, v.value)
        }
    }

    /// Names of a kind here and, for the vmlinux's, in the modules already loaded.
    private func allKeys(_ kind: IndexKind) -> [String] {
        var keys = kind == .enumerator ? Array(enumerators.keys) : Array(names[kind]?.keys ?? [:].keys)
        if base == nil, let m = loadedModules { for t in m.modules { keys += t.allKeys(kind) } }
        return keys
    }

    public func suggestions(for name: String, kinds: Set<IndexKind>, limit: Int) -> [String] {
        guard !name.isEmpty, name.count <= 64 else { return [] }
        let target = Array(name.utf8)
        var scored: [(Int, String)] = []
        for kind in kinds {
            for key in allKeys(kind) {
                let k = Array(key.utf8)
                guard abs(k.count - target.count) <= 2 else { continue }
                let d = editDistance(k, target, limit: 2)
                if d <= 2 { scored.append((d, key)) }
            }
        }
        scored.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var seen = Set<String>()
        return scored.map(\.1).filter { seen.insert($0).inserted }.prefix(limit).map { $0 }
    }

    public func names(withPrefix prefix: String, kinds: Set<IndexKind>, limit: Int) -> [String] {
        var found = Set<String>()
        for kind in kinds {
            for k in allKeys(kind) where k.hasPrefix(prefix) { found.insert(k) }
        }
        return Array(found.sorted().prefix(limit))
    }

    public func typeNames(kind: IndexKind) -> [String] {
        Array(Set(allKeys(kind)))
    }

    // MARK: CTypes by id

    /// The type of an id; a bad id is a named `void`, as a bad DIE is.
    public func type(_ id: Int) -> CType {
        if id == 0 { return .void }
        if let base, id < file.firstId { return base.type(id) }
        // Asked again while its members are read, not through a pointer (pointers load later):
        // hostile BTF has the struct contain itself, which no C type does (and CTypes would never be freed).
        if building.contains(id) { return CType(kind: .void, name: "<BTF type \(id) contains itself>", size: nil) }
        if let t = byId[id] { return t }
        depth += 1
        defer { depth -= 1 }
        guard depth < Self.maxDepth else { return CType(kind: .void, name: "<BTF type nesting too deep>", size: nil) }
        guard let (f, r) = file.record(id) else { return CType(kind: .void, name: "<bad BTF type \(id)>", size: nil) }
        let t = parse(f, r, id)
        byId[id] = t
        return t
    }

    private func lazy(_ id: UInt32) -> () -> CType {
        { [unowned self] in self.type(Int(id)) }
    }

    private func parse(_ f: BtfFile, _ r: BtfFile.Record, _ id: Int) -> CType {
        let name = f.string(r.nameOffset)
        switch r.kind {
        case .int:
            let encoding = f.u32(r.payload) >> 24 & 0xf
            let t = CType(kind: encoding & 4 != 0 ? .bool : .integer, name: name, size: UInt64(r.sizeOrType))
            t.isSigned = encoding & 1 != 0
            return t
        case .float:
            return CType(kind: .float, name: name, size: UInt64(r.sizeOrType))
        case .pointer:
            return CType(kind: .pointer, name: nil, size: 8, targetLoader: lazy(r.sizeOrType))
        case .typedef:
            return CType(kind: .typedef, name: name, size: nil, targetLoader: lazy(r.sizeOrType))
        case .const, .volatile:
            return type(Int(r.sizeOrType)).qualified(const: r.kind == .const, volatile: r.kind == .volatile)
        case .restrict, .typeTag, .variable:
            return type(Int(r.sizeOrType))
        case .array:
            return CType.array(of: type(Int(f.u32(r.payload))), count: UInt64(f.u32(r.payload + 8)))
        case .structure, .union:
            let t = CType(kind: r.kind == .union ? .union : .structure, name: name, size: UInt64(r.sizeOrType))
            byId[id] = t  // before the members: they can point back at it
            building.insert(id)
            defer { building.remove(id) }
            var members: [CType.Member] = []
            members.reserveCapacity(r.vlen)
            for m in 0..<r.vlen {
                let at = r.payload + m * 12
                let raw = f.u32(at + 8)
                let bitOffset = UInt64(r.kindFlag ? raw & 0xff_ffff : raw)
                let bitSize = r.kindFlag ? UInt64(raw >> 24) : 0
                members.append(CType.Member(name: f.string(f.u32(at)), type: type(Int(f.u32(at + 4))),
                                            offset: bitOffset / 8,
                                            bitOffset: bitSize > 0 ? bitOffset % 8 : nil,
                                            bitSize: bitSize > 0 ? bitSize : nil))
            }
            t.members = members
            return t
        case .enumeration, .enumeration64:
            let t = CType(kind: .enumeration, name: name, size: UInt64(r.sizeOrType))
            var values: [(String, Int64)] = []
            var negative = false
            for e in 0..<r.vlen {
                let at = r.payload + e * (r.kind == .enumeration ? 8 : 12)
                let value: Int64
                if r.kind == .enumeration {
                    let raw = f.u32(at + 4)
                    value = r.kindFlag ? Int64(Int32(bitPattern: raw)) : Int64(raw)
                } else {
                    value = Int64(bitPattern: UInt64(f.u32(at + 4)) | UInt64(f.u32(at + 8)) << 32)
                }
                if value < 0 { negative = true }
                values.append((f.string(f.u32(at)) ?? "", value))
            }
            t.enumerators = values
            t.isSigned = r.kindFlag || negative
            return t
        case .forward:
            let kind: IndexKind = r.kindFlag ? .union : .structure
            if let name, let def = names[kind]?[name] ?? base?.ownId(kind, name) { return type(def) }
            return CType(kind: r.kindFlag ? .union : .structure, name: name, size: nil)
        case .function:
            return type(Int(r.sizeOrType))
        case .functionPrototype:
            let t = CType(kind: .function, name: nil, size: nil, target: type(Int(r.sizeOrType)))
            var params: [CType] = []
            for p in 0..<r.vlen {
                let at = r.payload + p * 8
                let pt = f.u32(at + 4)
                if pt == 0 && p == r.vlen - 1 { t.isVariadic = true; continue }
                params.append(type(Int(pt)))
            }
            t.parameters = params
            return t
        case .void, .dataSection, .declarationTag:
            return CType(kind: .void, name: name ?? "void", size: nil)
        }
    }
}
