import MKDebugInfo

/// The loaded modules' BTF, read from the kernel's own copies. The module
/// loader parses a module's `.BTF` into a `struct btf` on the `btf_modules`
/// list (kernel/bpf/btf.c) and then clears `struct module`'s `btf_data`
/// (the section is not kept), so the list is where a dump still has it.
/// Each is split BTF: ids continue the vmlinux's, names its string section.
extension Kernel {
    /// A module's split BTF is a few hundred KB at most (ext4's: ~150 KB).
    static let maxModuleBtfBytes: UInt64 = 16 << 20

    /// Every module's split BTF over `base` (the vmlinux's), in list order;
    /// a module whose BTF is absent or bad is named in `problems`, the rest still load.
    public func moduleBtf(base: BtfTypes, budget: WalkBudget = WalkBudget()) -> ModuleBtfSet {
        var set = ModuleBtfSet()
        let head: UInt64
        let entry: CType, btf: CType
        do {
            head = try address(of: "btf_modules")
            entry = try type("struct btf_module")
            btf = try type("struct btf")
        } catch {
            set.problems.append(target.lacksDataSymbols
                ? "no module BTF: btf_modules, the list of the modules' parsed BTF, is a data symbol and kallsyms has text symbols only (CONFIG_KALLSYMS_ALL is off)"
                : "no module BTF: \(error) (a kernel without CONFIG_DEBUG_INFO_BTF_MODULES)")
            return set
        }
        let fields: (list: Field, btf: Field, data: Field, size: Field, startId: Field, startString: Field, name: Field, base: Field)
        do {
            fields = (try field("list", in: entry), try field("btf", in: entry), try field("data", in: btf), try field("data_size", in: btf),
                      try field("start_id", in: btf), try field("start_str_off", in: btf), try field("name", in: btf),
                      try field("base_btf", in: btf))
        } catch {
            set.problems.append("module BTF: \(error)")
            return set
        }
        let walk = ListWalker(memory: memory, budget: budget).walk(head: head)
        set.problems += walk.warnings.map { "btf_modules list at 0x\(String($0.address, radix: 16)): \($0.message)" }
        var seen = Set<String>()
        for node in walk.nodes {
            let module = node &- UInt64(fields.list.offset)
            do {
                let e = try readObject(at: module, covering: [fields.list, fields.btf])
                guard let p = e.unsigned(fields.btf), p != 0 else { throw ModuleBtfProblem("its struct btf_module at 0x\(String(module, radix: 16)) has no btf") }
                let b = try readObject(at: p, covering: [fields.data, fields.size, fields.startId, fields.startString, fields.name, fields.base])
                let name = b.string(fields.name) ?? ""
                let where_ = "module \(name.isEmpty ? "?" : name)'s BTF (struct btf at 0x\(String(p, radix: 16)))"
                guard !name.isEmpty, seen.insert(name).inserted else {
                    throw ModuleBtfProblem("\(where_): no name, or a second entry of the same name")
                }
                let data = b.unsigned(fields.data) ?? 0, size = b.unsigned(fields.size) ?? 0
                guard data != 0, size >= 24, size <= Self.maxModuleBtfBytes else {
                    throw ModuleBtfProblem("\(where_): data at 0x\(String(data, radix: 16)) of \(size) bytes, expected 24 bytes to 16 MiB")
                }
                // Split on the vmlinux's directly (not on a distilled base, not on another module's).
                let startId = b.unsigned(fields.startId) ?? 0, startString = b.unsigned(fields.startString) ?? 0
                let expectedId = UInt64(base.file.typeCount + 1), expectedString = UInt64(base.file.stringLength)
                guard startId == expectedId, startString == expectedString else {
                    throw ModuleBtfProblem("\(where_): its ids start at \(startId) and names at \(startString), but the vmlinux's BTF has \(expectedId - 1) types and \(expectedString) bytes of names: not split on the vmlinux's")
                }
                let source = "module \(name)'s BTF at 0x\(String(data, radix: 16))"
                let bytes: [UInt8]
                do { bytes = try memory.readVirtual(data, count: Int(size)) } catch {
                    throw BtfError.unreadable(source: source, address: data, reason: "\(error)")
                }
                let file = try BtfFile(bytes: bytes, source: source, base: base.file)
                set.modules.append(try BtfTypes(module: name, file: file, base: base))
            } catch {
                set.problems.append("\(error)")
            }
        }
        return set
    }

    /// Has `btf` (the target's BTF) load module BTF through this kernel when a name is not the vmlinux's.
    public func installModuleBtf(_ btf: BtfTypes) {
        guard btf.moduleLoader == nil else { return }
        btf.moduleLoader = { [weak self, unowned btf] in self?.moduleBtf(base: btf) }
    }
}

/// A module's BTF that is not where the kernel keeps it, or not what it should be.
struct ModuleBtfProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
