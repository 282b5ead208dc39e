import MKDebugInfo

/// A BTF blob (the kernel's .BTF, or hostile bytes standing in for it): parsed, then every
/// type built, its members and name followed, as ptype would. Bytes after the first blob's
/// sections are a module's split BTF on top of it, looked up through the base as mkdbg does.
struct BtfFuzz: FuzzTarget {
    static let name = "btf"

    func run(_ data: [UInt8]) {
        guard let file = try? BtfFile(bytes: data, source: "fuzz") else { return }
        let types = BtfTypes(file: file)
        exercise(types, file)
        guard file.extent < data.count, let split = try? BtfFile(bytes: Array(data[file.extent...]), source: "fuzz split", base: file),
              let module = try? BtfTypes(module: "fuzz", file: split, base: types) else { return }
        types.moduleLoader = { ModuleBtfSet(modules: [module]) }
        exercise(module, split)
        _ = (types.findType("struct b"), types.isTypeName("b"), types.enumerator("B"), types.typeNames(kind: .structure).count)
    }

    private func exercise(_ types: BtfTypes, _ file: BtfFile) {
        let first = (types.base?.file.typeCount).map { $0 + 1 } ?? 0
        for id in first...(first + min(file.typeCount, 512)) {
            let t = types.type(id)
            _ = TypeFormatter.name(of: t)
            _ = (t.byteSize, t.resolved.kind, t.memberNames.count, t.target?.byteSize)
            for m in t.resolved.members.prefix(64) { _ = TypeFormatter.name(of: m.type) }
            if id < first + 64 { _ = (TypeFormatter.ptype(t), TypeFormatter.ptype(t, offsets: true)) }
        }
        _ = (types.findType("struct a"), types.findType("int"), types.enumerator("A"), types.anonymousStruct(withMember: "a"))
        _ = types.suggestions(for: "a", kinds: [.structure, .typedef, .enumerator])
    }
}
