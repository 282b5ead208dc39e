import MKFormat
import MKDebugInfo

/// A loaded kernel module (`struct module` on the `modules` list).
public struct ModuleInfo: Equatable {
    /// Address of the `struct module`.
    public var address: UInt64
    public var name: String
    /// Start of its core text.
    public var base: UInt64
    /// Bytes of its core (non-init) memory: text, read-only data, data.
    public var size: UInt64
    public var textSize: UInt64?
    /// `enum module_state` without its prefix, lower case: `live`, `coming`, `going`, `unformed`.
    public var state: String?
    /// From the module's `.note.gnu.build-id` as loaded (`notes_attrs`), when the kernel keeps it.
    public var buildId: String?
}

public struct ModuleList {
    public var modules: [ModuleInfo] = []
    public var warnings: [WalkWarning] = []
}

/// How this kernel's `struct module` describes the module's memory:
/// `mem[MOD_*]` (6.4 and later: one `struct module_memory` per kind),
/// `core_layout` (4.5 to 6.3), or `module_core`/`core_size` (older).
enum ModuleMemoryLayout {
    case memArray(mem: Field, element: UInt64, base: Field, size: Field, text: Int, core: [Int])
    case coreLayout(base: Field, size: Field, textSize: Field?)
    case moduleCore(base: Field, size: Field, textSize: Field?)
}

extension Kernel {
    /// The modules on the `modules` list, in list order (most recently
    /// loaded first), walked within `budget`.
    public func modules(budget: WalkBudget = WalkBudget()) throws -> ModuleList {
        let t = try type("struct module")
        let listField = try field("list", in: t)
        let name = try field("name", in: t)
        let stateField = optionalField("state", in: t)
        let memory = try moduleMemoryLayout(t)
        var fields = [listField, name] + [stateField].compactMap { $0 }
        switch memory {
        case let .memArray(mem, _, _, _, _, _): fields.append(mem)
        case let .coreLayout(base, size, text), let .moduleCore(base, size, text):
            fields += [base, size] + [text].compactMap { $0 }
        }

        var result = ModuleList()
        let head = try address(of: "modules")
        func warn(_ kind: String, _ w: @autoclosure () -> WalkWarning) { if budget.keepWarning(kind) { result.warnings.append(w()) } }
        let walk = ListWalker(memory: self.memory, budget: budget).walk(head: head)
        walk.warnings.forEach { warn("modules list", WalkWarning(address: $0.address, message: "modules list: \($0.message)")) }
        for node in walk.nodes {
            let address = node &- UInt64(listField.offset)
            let bytes: ObjectBytes
            do {
                bytes = try readObject(at: address, covering: fields)
            } catch {
                warn("unreadable module", WalkWarning(address: address, message: "cannot read the struct module: \(error)"))
                continue
            }
            var m = ModuleInfo(address: address, name: bytes.string(name) ?? "", base: 0, size: 0)
            switch memory {
            case let .memArray(mem, element, base, size, text, core):
                func at(_ kind: Int, _ f: Field) -> Field {
                    Field(layout: MemberLayout(path: f.path, offset: mem.offset + kind * Int(element) + f.offset, size: f.size,
                                               isSigned: f.isSigned), type: f.type)
                }
                m.base = bytes.unsigned(at(text, base)) ?? 0
                m.textSize = bytes.unsigned(at(text, size))
                m.size = core.reduce(0) { $0 &+ (bytes.unsigned(at($1, size)) ?? 0) }
            case let .coreLayout(base, size, text), let .moduleCore(base, size, text):
                m.base = bytes.unsigned(base) ?? 0
                m.size = bytes.unsigned(size) ?? 0
                m.textSize = text.flatMap { bytes.unsigned($0) }
            }
            if let sf = stateField, let v = bytes.signed(sf) {
                m.state = sf.type.resolved.enumerators.first { $0.value == v }
                    .map { e in (e.name.hasPrefix("MODULE_STATE_") ? String(e.name.dropFirst(13)) : e.name).lowercased() } ?? String(v)
            }
            m.buildId = moduleBuildId(address, in: t)
            result.modules.append(m)
        }
        return result
    }

    func moduleMemoryLayout(_ t: CType) throws -> ModuleMemoryLayout {
        if let mem = optionalField("mem", in: t), let element = mem.type.resolved.target,
           let elementSize = element.byteSize, elementSize > 0 {
            let base = try field("base", in: element)
            let size = try field("size", in: element)
            guard let textKind = types.enumerator("MOD_TEXT")?.value else {
                throw KernelError.unsupportedLayout(what: "struct module", message: "struct module has mem[] but the kernel has no MOD_TEXT")
            }
            let kinds = types.enumerator("MOD_TEXT")?.type.resolved.enumerators ?? []
            let count = Int(mem.type.resolved.count ?? 0)
            let core = kinds.filter { $0.name.hasPrefix("MOD_") && !$0.name.hasPrefix("MOD_INIT") && !$0.name.contains("NUM")
                && $0.value >= 0 && Int($0.value) < count }.map { Int($0.value) }
            return .memArray(mem: mem, element: elementSize, base: base, size: size, text: Int(textKind), core: core)
        }
        if let layout = optionalField("core_layout", in: t) {
            let base = try field("core_layout.base", in: t)
            let size = try field("core_layout.size", in: t)
            _ = layout
            return .coreLayout(base: base, size: size, textSize: optionalField("core_layout.text_size", in: t))
        }
        if let base = optionalField("module_core", in: t), let size = optionalField("core_size", in: t) {
            return .moduleCore(base: base, size: size, textSize: optionalField("core_text_size", in: t))
        }
        throw KernelError.unsupportedLayout(what: "struct module", message: "struct module has neither mem[], core_layout nor module_core: unknown layout")
    }

    /// The GNU build-id note the module loader kept for sysfs
    /// (`notes_attrs->attrs[i]`, a `bin_attribute` whose `private` points at
    /// the loaded note section); nil when absent or unreadable.
    func moduleBuildId(_ module: UInt64, in t: CType) -> String? {
        guard let notes = try? object(t, at: module)["notes_attrs"], let p = try? notes.unsigned(), p != 0,
              let attrsType = notes.type.resolved.target,
              let count = try? object(attrsType, at: p)["notes"].unsigned(), count > 0, count < 64,
              let attrs = try? object(attrsType, at: p)["attrs"] else { return nil }
        for i in 0..<Int(count) {
            guard let a = try? attrs.index(i), let data = try? a["private"].unsigned(),
                  let size = try? a["size"].unsigned(), data != 0, size >= 16, size < 4096,
                  let bytes = try? memory.readVirtual(data, count: Int(size)) else { continue }
            if let id = Self.gnuBuildId(inNotes: bytes) { return id }
        }
        return nil
    }

    /// The NT_GNU_BUILD_ID (type 3, owner "GNU") descriptor in a run of ELF notes, as hex.
    static func gnuBuildId(inNotes bytes: [UInt8]) -> String? {
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        var off = 0
        while off + 12 <= bytes.count {
            let namesz = u32(off), descsz = u32(off + 4), type = u32(off + 8)
            let nameAt = off + 12
            let descAt = nameAt + ((namesz + 3) & ~3)
            let next = descAt + ((descsz + 3) & ~3)
            guard namesz < 256, descsz < 1024, next <= bytes.count else { return nil }
            if type == 3, namesz == 4, bytes[nameAt..<(nameAt + 3)].elementsEqual("GNU".utf8), descsz > 0 {
                return bytes[descAt..<(descAt + descsz)].map { b in
                    let h = String(b, radix: 16)
                    return b < 16 ? "0" + h : h
                }.joined()
            }
            off = next
        }
        return nil
    }
}
