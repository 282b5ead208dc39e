import MKFormat
import MKMemory
import MKDebugInfo

/// What a kernel address is, as crash's `kmem ADDR` tells it: a task's
/// kernel stack, the kernel image (symbol+offset), a module's memory, a
/// slab object, a page of the direct map, a `struct page`, a vmap area,
/// or unknown.
public struct AddressIdentity {
    public enum Kind: String {
        case stack, kernel, module, slab, page, structPage = "struct_page", vmalloc, unknown
    }

    public struct TaskStack {
        public var task: UInt64
        public var pid: Int
        public var comm: String
        public var stack: UInt64
        public var size: UInt64
    }

    public struct ModuleRegion {
        public var module: UInt64
        public var name: String
        /// `text`, `data`, `rodata`, `ro_after_init`, `init_text`…: `mod->mem[]`'s kinds (6.4+) or `core_layout`'s parts.
        public var region: String
        public var start: UInt64
        public var size: UInt64
    }

    public var address: UInt64
    public var kind: Kind = .unknown
    public var stack: TaskStack?
    public var symbol: (name: String, offset: UInt64)?
    public var module: ModuleRegion?
    public var slab: SlabObjectInfo?
    /// The frame holding a direct-map address, or the `struct page` the address is in.
    public var page: PageDescriptor?
    public var vmap: VmapArea?
    public var warnings: [WalkWarning] = []
}

extension Kernel {
    /// `THREAD_SIZE`: the span of `init_task`'s stack in the image (the linker script's
    /// `__start_init_stack`/`__end_init_stack`, 6.2+; `__start_init_task`/`__end_init_task` before).
    func threadSize() -> UInt64? {
        for (start, end) in [("__start_init_stack", "__end_init_stack"), ("__start_init_task", "__end_init_task")] {
            guard let s = target.symbols?.lookup(start)?.address, let e = target.symbols?.lookup(end)?.address,
                  e > s, e - s <= 1 << 20 else { continue }
            return e - s
        }
        return nil
    }

    /// Identifies `address`; every walk (tasks, modules, freelists, vmap areas) spends `budget`.
    public func identify(_ address: UInt64, budget: WalkBudget) throws -> AddressIdentity {
        var id = AddressIdentity(address: address)
        if let size = threadSize() {
            let t = try type("struct task_struct")
            let stackField = try field("stack", in: t)
            let list = try tasks(budget: budget)
            id.warnings += list.warnings
            for task in list.tasks {
                guard let b = try? readObject(at: task.address, covering: [stackField]), let s = b.unsigned(stackField), s != 0,
                      address >= s, address - s < size else { continue }
                id.kind = .stack
                id.stack = AddressIdentity.TaskStack(task: task.address, pid: task.pid, comm: task.comm, stack: s, size: size)
                break
            }
        }
        if let s = target.symbols, let text = s.lookup("_text")?.address, let end = s.lookup("_end")?.address,
           address >= text, address < end {
            if id.kind == .unknown { id.kind = .kernel }
            id.symbol = s.symbolize(address).map { ($0.symbol.name, $0.offset) }
            // arm64's image lies in the vmalloc range, its segments vmap areas of their own.
            if let areas = try? vmapAreas(budget: budget) {
                id.warnings += areas.warnings
                id.vmap = areas.areas.first { address >= $0.start && address < $0.end }
            }
            return id
        }
        if id.kind == .unknown, let hit = try moduleRegion(containing: address, budget: budget, warnings: &id.warnings) {
            id.kind = .module
            id.module = hit
        }
        let layout = try SlabLayout(self)
        let pages = try SlabPageLayout(self, slab: layout)
        if pages.inDirectMap(address) {
            let pfn = (address - pages.directBase) / pages.map.pageSize
            id.page = try? pageDescriptor(pfn: pfn)
            if id.kind == .unknown { id.kind = .page }
            do {
                if let info = try slabObject(containing: address, budget: budget) {
                    if id.kind == .page { id.kind = .slab }
                    id.slab = info
                    id.warnings += info.warnings
                }
            } catch let e as KernelError {
                id.warnings.append(WalkWarning(address: address, message: "\(e)"))
            } catch {
                id.warnings.append(WalkWarning(address: address, message: "cannot read the slab: \(error)"))
            }
            return id
        }
        // A struct page only where one is (arm64's memory map has none below its RAM's first PFN).
        if address >= pages.map.base, (address - pages.map.base) / pages.map.pageStructSize < pages.maxPFN,
           let page = try? pageDescriptor(pfn: (address - pages.map.base) / pages.map.pageStructSize) {
            if id.kind == .unknown { id.kind = .structPage }
            id.page = page
            return id
        }
        if let areas = try? vmapAreas(budget: budget) {
            id.warnings += areas.warnings
            if let a = areas.areas.first(where: { address >= $0.start && address < $0.end }) {
                if id.kind == .unknown { id.kind = .vmalloc }
                id.vmap = a
            }
        }
        return id
    }

    /// The module memory region holding `address`: `mod->mem[]` (6.4+), or
    /// `core_layout`/`init_layout`'s text, read-only data, data.
    func moduleRegion(containing address: UInt64, budget: WalkBudget, warnings: inout [WalkWarning]) throws -> AddressIdentity.ModuleRegion? {
        let t = try type("struct module")
        let list = try modules(budget: budget)
        warnings += list.warnings
        let kinds = types.enumerator("MOD_TEXT")?.type.resolved.enumerators ?? []
        for m in list.modules {
            var regions: [(String, UInt64, UInt64)] = []
            let mod = object(t, at: m.address)
            if (try? mod["mem"].index(0)) != nil {
                for k in kinds where k.name.hasPrefix("MOD_") && k.value >= 0 && k.value < 16 && !k.name.contains("NUM") {
                    guard let e = try? mod["mem"].index(Int(k.value)), let base = try? e["base"].unsigned(), let size = try? e["size"].unsigned() else { continue }
                    regions.append((String(k.name.dropFirst(4)).lowercased(), base, size))
                }
            } else {
                for (prefix, layoutName) in [("", "core_layout"), ("init_", "init_layout")] {
                    guard let l = try? mod[layoutName], let base = try? l["base"].unsigned(), let size = try? l["size"].unsigned() else { continue }
                    let text = (try? l["text_size"].unsigned()) ?? size, ro = (try? l["ro_size"].unsigned()) ?? text
                    let roAfter = (try? l["ro_after_init_size"].unsigned()) ?? ro
                    regions += [(prefix + "text", base, text), (prefix + "rodata", base &+ text, ro &- min(ro, text)),
                                (prefix + "ro_after_init", base &+ ro, roAfter &- min(roAfter, ro)),
                                (prefix + "data", base &+ roAfter, size &- min(size, roAfter))]
                }
            }
            for (name, base, size) in regions where size > 0 && base != 0 && address >= base && address - base < size {
                return AddressIdentity.ModuleRegion(module: m.address, name: m.name, region: name, start: base, size: size)
            }
        }
        return nil
    }
}
