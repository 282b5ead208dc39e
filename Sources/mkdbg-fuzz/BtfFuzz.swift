import MKDebugInfo

/// A BTF blob (the kernel's .BTF, or hostile bytes standing in for it): parsed, then every
/// type built, its members and name followed, as ptype would.
struct BtfFuzz: FuzzTarget {
    static let name = "btf"

    func run(_ data: [UInt8]) {
        guard let file = try? BtfFile(bytes: data, source: "fuzz") else { return }
        let types = BtfTypes(file: file)
        for id in 0...min(file.typeCount, 512) {
            let t = types.type(id)
            _ = TypeFormatter.name(of: t)
            _ = (t.byteSize, t.resolved.kind, t.memberNames.count, t.target?.byteSize)
            for m in t.resolved.members.prefix(64) { _ = TypeFormatter.name(of: m.type) }
            if id < 64 { _ = (TypeFormatter.ptype(t), TypeFormatter.ptype(t, offsets: true)) }
        }
        _ = (types.findType("struct a"), types.findType("int"), types.enumerator("A"), types.anonymousStruct(withMember: "a"))
        _ = types.suggestions(for: "a", kinds: [.structure, .typedef, .enumerator])
    }
}
