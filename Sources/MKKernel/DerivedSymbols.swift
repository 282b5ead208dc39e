#if canImport(Glibc)
import Glibc
#endif
import MKDebugInfo

/// Globals a kallsyms without data symbols (CONFIG_KALLSYMS_ALL off, as on
/// Debian's cloud-arm64) does not name, found in memory instead. Each is
/// accepted only when what is found checks out as that object, and is
/// added to the symbol table as derived, saying how it was found.
extension Kernel {
    /// How far after the BTF to look for init_task (6.1 arm64: 4.7 MiB to .data, init_task 100 KiB into it).
    static let initTaskScanWindow: UInt64 = 64 << 20

    /// Fills in what the helpers need and kallsyms lacks; a no-op when kallsyms has data symbols.
    func deriveMissingSymbols() {
        guard let symbols = target.symbols, dwarf == nil, symbols.lookup("init_task") == nil else { return }
        if let (address, how) = findInitTask(symbols) {
            symbols.addDerived("init_task", address: address, how: how)
        }
        if symbols.lookup("modules") == nil, let (address, how) = findModulesHead(symbols) {
            symbols.addDerived("modules", address: address, how: how)
        }
        if symbols.lookup("__per_cpu_offset") == nil, let btf = types as? BtfTypes, let initTask = symbols.lookup("init_task")?.address {
            derivePerCPU(btf, symbols, initTask: initTask)
        }
    }

    /// Per-CPU data without `__per_cpu_offset`: BTF's `.data..percpu` DATASEC
    /// gives each per-CPU variable's offset in the section, and each CPU's
    /// runqueue is found from the tasks: a task's `se.cfs_rq` is (or leads to,
    /// `cfs_rq.rq`) its CPU's `struct rq`. A runqueue counts only when its
    /// `cpu` is in range and its `idle` is that CPU's swapper (init_task for
    /// CPU 0); CPU n's offset is then its runqueue's address less the
    /// offset of `runqueues`, with the section at 0 as on x86-64.
    func derivePerCPU(_ btf: BtfTypes, _ symbols: SymbolTable, initTask: UInt64) {
        guard let section = btf.dataSection(".data..percpu"),
              let runqueues = section.variables.first(where: { $0.name == "runqueues" }),
              let layout = try? TaskLayout(self), let task = try? type("struct task_struct"), let rq = try? type("struct rq"),
              let cfs = try? type("struct cfs_rq"), let seCfsRq = optionalField("se.cfs_rq", in: task),
              let cpuField = optionalField("cpu", in: rq), let idleField = optionalField("idle", in: rq),
              let rqCfs = optionalField("cfs", in: rq) else { return }
        let cfsRqRq = optionalField("rq", in: cfs)
        let walk = ListWalker(memory: memory, budget: WalkBudget()).walk(head: initTask &+ UInt64(layout.tasks.offset))
        var candidates = Set<UInt64>()
        for t in [initTask] + walk.nodes.prefix(8192).map({ $0 &- UInt64(layout.tasks.offset) }) {
            guard let c = try? readObject(at: t, covering: [seCfsRq]).unsigned(seCfsRq), c != 0 else { continue }
            if let f = cfsRqRq {
                if let r = try? readObject(at: c, covering: [f]).unsigned(f), r != 0 { candidates.insert(r) }
            } else {
                candidates.insert(c &- UInt64(rqCfs.offset))
            }
        }
        var byCPU: [Int: UInt64] = [:]
        for r in candidates {
            guard let b = try? readObject(at: r, covering: [cpuField, idleField]), let cpu = b.signed(cpuField), cpu >= 0, cpu < 4096,
                  let idle = b.unsigned(idleField), idle != 0,
                  let ib = try? readObject(at: idle, covering: [layout.pid, layout.comm]), ib.signed(layout.pid) == 0,
                  ib.string(layout.comm) == "swapper/\(cpu)", cpu != 0 || idle == initTask,
                  byCPU[Int(cpu)] == nil || byCPU[Int(cpu)] == r else { continue }
            byCPU[Int(cpu)] = r
        }
        var count = 0
        while byCPU[count] != nil { count += 1 }
        guard count > 0 else { return }
        target.derivedPerCPUOffsets = (0..<count).map { (byCPU[$0] ?? 0) &- runqueues.offset }
        let how = "offset in BTF's .data..percpu (per-CPU offsets from each CPU's runqueue, found through its tasks)"
        symbols.addDerived("__per_cpu_start", address: 0, how: how)
        symbols.addDerived("__per_cpu_end", address: section.size, how: how)
        for v in section.variables { symbols.addDerived(v.name, address: v.offset, size: v.size, how: how) }
    }

    /// `init_task`: CPU 0's idle task, in the image's .data after the read-only
    /// data. Its comm is "swapper/0" (set when CPU 0 becomes idle); it must
    /// have pid 0, be its own parent and group leader, and head a task list
    /// that walks back to it.
    func findInitTask(_ symbols: SymbolTable) -> (UInt64, String)? {
        guard let btf = symbols.lookup("__start_BTF"), let layout = try? TaskLayout(self) else { return nil }
        let start = btf.address &+ btf.size
        let needle = Array("swapper/0".utf8) + [0]
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk + needle.count)
        var at = start
        while at &- start < Self.initTaskScanWindow {
            let ok = buffer.withUnsafeMutableBytes { memory.readVirtualSkippingHoles(at, into: $0) }
            if ok {
                for offset in Self.occurrences(of: needle, in: buffer, below: chunk) {
                    let task = at &+ UInt64(offset) &- UInt64(layout.comm.offset)
                    if isInitTask(task, layout) {
                        return (task, "found by a scan of the image's data for a task_struct named swapper/0 with pid 0, its own parent, heading the task list")
                    }
                }
            }
            let (next, overflow) = at.addingReportingOverflow(UInt64(chunk))
            if overflow { break }
            at = next
        }
        return nil
    }

    private func isInitTask(_ task: UInt64, _ layout: TaskLayout) -> Bool {
        guard task & 7 == 0, let b = try? readObject(at: task, covering: [layout.pid, layout.tgid, layout.realParent, layout.groupLeader, layout.tasks]),
              b.signed(layout.pid) == 0, b.signed(layout.tgid) == 0, b.unsigned(layout.realParent) == task,
              b.unsigned(layout.groupLeader) == task else { return false }
        let head = task &+ UInt64(layout.tasks.offset)
        let walk = ListWalker(memory: memory, budget: WalkBudget()).walk(head: head)
        return walk.complete && !walk.nodes.isEmpty && walk.warnings.isEmpty
    }

    /// The `modules` list head: each module's `struct module` lives in its own
    /// memory, which vmalloc allocated in the module region (VMCOREINFO's
    /// MODULES_VADDR to MODULES_END, or with arm64's KASLR within 4 GiB of
    /// the kernel, for its branches), so it is in an area on `vmap_area_list`
    /// (a VMCOREINFO symbol). A `struct module` there must have a known
    /// state, a module name, and a `list` whose neighbours link back; its
    /// ring must come back to it and hold exactly one node outside those
    /// areas, in the kernel image: the head.
    func findModulesHead(_ symbols: SymbolTable) -> (UInt64, String)? {
        guard let info = target.image.vmcoreInfo, let low = info.bits("MODULES_VADDR"), let high = info.bits("MODULES_END"), low < high,
              let areas = symbols.lookup("vmap_area_list")?.address, let text = symbols.lookup("_stext")?.address,
              let va = try? type("struct vmap_area"), let vaList = optionalField("list", in: va),
              let vaStart = optionalField("va_start", in: va), let vaEnd = optionalField("va_end", in: va),
              let module = try? type("struct module"), let list = optionalField("list", in: module),
              let name = optionalField("name", in: module), let state = optionalField("state", in: module) else { return nil }
        let states = Set(state.type.resolved.enumerators.map(\.value))
        let areaWalk = ListWalker(memory: memory, budget: WalkBudget()).walk(head: areas)
        func nearKernel(_ a: UInt64) -> Bool { (a >= low && a < high) || (a < text ? text - a : a - text) < 4 << 30 }
        var moduleAreas: [Range<UInt64>] = []
        for node in areaWalk.nodes.prefix(100_000) {
            guard let b = try? readObject(at: node &- UInt64(vaList.offset), covering: [vaStart, vaEnd]),
                  let start = b.unsigned(vaStart), let end = b.unsigned(vaEnd), end > start, end - start <= 64 << 20,
                  nearKernel(start), !(start >= text && start < text &+ (1 << 30)) else { continue }
            moduleAreas.append(start..<end)
        }
        func inModule(_ a: UInt64) -> Bool { moduleAreas.contains { $0.contains(a) } }
        for area in moduleAreas {
            let start = area.lowerBound
            var bytes = [UInt8](repeating: 0, count: Int(area.upperBound - start))
            guard bytes.withUnsafeMutableBytes({ memory.readVirtualSkippingHoles(start, into: $0) }) else { continue }
            let span = max(list.end, name.end, state.end)
            var at = 0
            while at + span <= bytes.count {
                defer { at += 8 }
                let candidate = start &+ UInt64(at)
                guard let s = bytes.loadLE32(at: at + state.offset), states.contains(Int64(Int32(bitPattern: s))),
                      let next = bytes.loadLE64(at: at + list.offset), symbols.space.isKernelAddress(next),
                      let prev = bytes.loadLE64(at: at + list.offset + 8), symbols.space.isKernelAddress(prev) else { continue }
                let nameBytes = bytes[(at + name.offset)..<(at + name.end)].prefix { $0 != 0 }
                guard !nameBytes.isEmpty, nameBytes.count < name.size,
                      nameBytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f || $0 == 0x2d }) else { continue }
                let me = candidate &+ UInt64(list.offset)
                guard (try? memory.readVirtualU64(next &+ 8)) == me, (try? memory.readVirtualU64(prev)) == me else { continue }
                // Around the ring from here: every node but one is a module's.
                let ring = ListWalker(memory: memory, budget: WalkBudget()).walk(head: me)
                guard ring.complete, ring.warnings.isEmpty else { continue }
                let outside = ring.nodes.filter { !inModule($0) }
                if outside.count == 1, let head = outside.first, head >= text, head - text < 1 << 30 {
                    return (head, "found from a struct module (\(String(decoding: nameBytes, as: UTF8.self))) in the module region: the one node of its list outside the region")
                }
            }
        }
        return nil
    }

    /// Offsets below `limit` where `needle` starts in `bytes`.
    static func occurrences(of needle: [UInt8], in bytes: [UInt8], below limit: Int) -> [Int] {
        guard let first = needle.first else { return [] }
        var found: [Int] = []
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var from = 0
            while from < limit, found.count < 256 {
                guard let hit = memchr(base + from, Int32(first), limit - from) else { break }
                let offset = base.distance(to: UnsafeRawPointer(hit))
                if offset + needle.count <= raw.count, raw[offset..<(offset + needle.count)].elementsEqual(needle) { found.append(offset) }
                from = offset + 1
            }
        }
        return found
    }
}
