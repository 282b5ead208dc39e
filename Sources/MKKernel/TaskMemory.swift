import MKFormat
import MKMemory
import MKDebugInfo

/// One `vm_area_struct` of a task's address space.
public struct VmArea: Equatable {
    public var address: UInt64
    public var start: UInt64
    public var end: UInt64
    public var flags: UInt64
    /// The `struct file` mapped, 0 for an anonymous mapping.
    public var file: UInt64
    /// The file's path (`d_path`), nil for an anonymous mapping.
    public var path: String?
}

/// A task's `mm_struct`: its page table, sizes and VMAs.
public struct TaskMemoryMap {
    public var mm: UInt64
    public var pgd: UInt64
    /// Resident pages: file, anonymous and shmem counters of the mm.
    public var rssPages: UInt64?
    public var totalVMPages: UInt64
    public var areas: [VmArea] = []
    public var warnings: [WalkWarning] = []
}

/// Where `mm_struct` and `vm_area_struct` keep what `vm` shows, from DWARF.
public struct TaskMemoryLayout {
    public let taskMm: Field
    public let mmMt: Field
    public let pgd: Field
    public let totalVM: Field
    public let rss: Field?
    public let rssIsPercpu: Bool
    public let rssCounterCount: Field?
    public let rssCounterPercpu: Field?
    public let rssItemSize: Int
    public let rssIndexes: [Int]
    /// `task_struct.rss_stat.count` (6.1 and older with SPLIT_RSS_COUNTING): each thread's not yet folded pages.
    public let taskRss: Field?
    public let taskTgid: Field
    public let vmStart: Field
    public let vmEnd: Field
    public let vmFlags: Field
    public let vmFile: Field
    public let filePath: Field
    public let maple: MapleTreeLayout
    public let paths: DentryPathLayout

    public init(_ kernel: Kernel) throws {
        let task = try kernel.type("struct task_struct")
        taskMm = try kernel.field("mm", in: task)
        taskTgid = try kernel.field("tgid", in: task)
        taskRss = kernel.optionalField("rss_stat.count", in: task)
        let mm = try kernel.type("struct mm_struct")
        guard let mt = kernel.optionalField("mm_mt", in: mm) else {
            throw KernelError.unsupportedLayout(what: "struct mm_struct", message: "this kernel's mm_struct has no mm_mt (kernels before 6.1 keep VMAs in "
                + "mm->mmap and an rbtree, which vm does not read)")
        }
        mmMt = mt
        maple = try MapleTreeLayout(kernel)
        pgd = try kernel.field("pgd", in: mm)
        totalVM = try kernel.field("total_vm", in: mm)
        // rss_stat: struct mm_rss_stat { atomic_long_t count[N]; } (6.1), or struct percpu_counter [N] (6.2+).
        var indexes: [Int] = []
        for name in ["MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES"] {
            if let e = kernel.types.enumerator(name), e.value >= 0, e.value < 16 { indexes.append(Int(e.value)) }
        }
        rssIndexes = indexes
        if let stat = kernel.optionalField("rss_stat", in: mm) {
            let t = stat.type.resolved
            if t.kind == .array, let element = t.target, let size = element.byteSize, size > 0, size <= 256,
               let count = kernel.optionalField("count", in: element) {
                rss = stat
                rssIsPercpu = true
                rssCounterCount = count
                rssCounterPercpu = kernel.optionalField("counters", in: element)
                rssItemSize = Int(size)
            } else if let counts = kernel.optionalField("rss_stat.count", in: mm) {
                rss = counts
                rssIsPercpu = false
                rssCounterCount = nil
                rssCounterPercpu = nil
                rssItemSize = Int(counts.type.resolved.target?.byteSize ?? 8)
            } else {
                (rss, rssIsPercpu, rssCounterCount, rssCounterPercpu, rssItemSize) = (nil, false, nil, nil, 8)
            }
        } else {
            (rss, rssIsPercpu, rssCounterCount, rssCounterPercpu, rssItemSize) = (nil, false, nil, nil, 8)
        }
        let vma = try kernel.type("struct vm_area_struct")
        vmStart = try kernel.field("vm_start", in: vma)
        vmEnd = try kernel.field("vm_end", in: vma)
        vmFlags = try kernel.field("vm_flags", in: vma)
        vmFile = try kernel.field("vm_file", in: vma)
        filePath = try kernel.field("f_path", in: kernel.type("struct file"))
        paths = try DentryPathLayout(kernel)
    }
}

extension Kernel {
    /// The task's mm and its VMAs from `mm->mm_mt`, in address order; nil
    /// for a task without an mm (a kernel thread). The maple tree walk and
    /// each path spend from `budget`; a VMA whose range disagrees with the
    /// tree's, or that cannot be read, is reported and left out.
    public func memoryMap(task: UInt64, layout: TaskMemoryLayout, budget: WalkBudget) throws -> TaskMemoryMap? {
        let t = try readObject(at: task, covering: [layout.taskMm, layout.taskTgid])
        let mm = t.unsigned(layout.taskMm) ?? 0
        if mm == 0 { return nil }
        let m = try readObject(at: mm, covering: [layout.pgd, layout.totalVM])
        var map = TaskMemoryMap(mm: mm, pgd: m.unsigned(layout.pgd) ?? 0, rssPages: rssPages(mm: mm, layout: layout),
                                totalVMPages: m.unsigned(layout.totalVM) ?? 0)
        let tree = try mapleTreeEntries(at: mm &+ UInt64(layout.mmMt.offset), layout: layout.maple, budget: budget,
                                        name: "mm_mt of mm_struct \(hex(mm))")
        map.warnings += tree.warnings
        var pathOfFile: [UInt64: String] = [:]
        let fields = [layout.vmStart, layout.vmEnd, layout.vmFlags, layout.vmFile]
        for e in tree.entries {
            let v: ObjectBytes
            do {
                v = try readObject(at: e.pointer, covering: fields)
            } catch {
                if budget.keepWarning("unreadable vma") {
                    map.warnings.append(WalkWarning(address: e.pointer, message: "cannot read the vm_area_struct: \(error)"))
                }
                continue
            }
            let start = v.unsigned(layout.vmStart) ?? 0, end = v.unsigned(layout.vmEnd) ?? 0
            if start != e.start || end &- 1 != e.end {
                if budget.keepWarning("vma range") {
                    map.warnings.append(WalkWarning(address: e.pointer, message: "vm_area_struct covers \(hex(start))–\(hex(end)) but the maple tree "
                        + "maps \(hex(e.start))–\(hex(e.end &+ 1)) to it; left out"))
                }
                continue
            }
            let file = v.unsigned(layout.vmFile) ?? 0
            var path: String?
            if file != 0 {
                if let known = pathOfFile[file] {
                    path = known
                } else {
                    do {
                        let p = try self.path(at: file &+ UInt64(layout.filePath.offset), layout: layout.paths, budget: budget)
                        map.warnings += p.warnings
                        path = p.path
                    } catch {
                        if budget.keepWarning("unreadable file") {
                            map.warnings.append(WalkWarning(address: file, message: "cannot read the struct file: \(error)"))
                        }
                        path = "?"
                    }
                    pathOfFile[file] = path
                }
            }
            map.areas.append(VmArea(address: e.pointer, start: start, end: end, flags: v.unsigned(layout.vmFlags) ?? 0,
                                    file: file, path: path))
        }
        if let cached = layout.taskRss, let rss = map.rssPages {
            // 6.1: add the pages each thread of the group counted but has not folded into the mm yet.
            let tgid = Int(t.signed(layout.taskTgid) ?? -1)
            var list = TaskList()
            do {
                list = try tasks(threads: true, budget: budget)
            } catch {
                map.warnings.append(WalkWarning(address: task, message: "RSS without the threads' cached counts: \(error)"))
            }
            if let first = list.warnings.first {
                map.warnings.append(WalkWarning(address: task, message: "RSS may miss some threads' cached counts: the task list "
                    + "walk stopped short (\(first.message))"))
            }
            var extra: Int64 = 0
            let size = Int(cached.type.resolved.target?.byteSize ?? 4)
            for thread in list.tasks where thread.tgid == tgid && !thread.isIdle {
                for i in layout.rssIndexes where (i + 1) * size <= cached.size {
                    if let w = try? memory.readVirtual(thread.address &+ UInt64(cached.offset + i * size), count: 4) {
                        let v = UInt32(w[0]) | UInt32(w[1]) << 8 | UInt32(w[2]) << 16 | UInt32(w[3]) << 24
                        extra &+= Int64(Int32(bitPattern: v))
                    }
                }
            }
            let sum = Int64(bitPattern: rss) &+ extra
            map.rssPages = sum < 0 ? 0 : UInt64(sum)
        }
        return map
    }

    /// File, anonymous and shmem pages of an mm (the per-CPU parts of 6.2+'s counters summed over the possible CPUs).
    func rssPages(mm: UInt64, layout: TaskMemoryLayout) -> UInt64? {
        guard let rss = layout.rss, !layout.rssIndexes.isEmpty else { return nil }
        var total: Int64 = 0
        let offsets = layout.rssIsPercpu ? (try? perCPUOffsets()) : nil
        for i in layout.rssIndexes {
            let item = mm &+ UInt64(rss.offset) &+ UInt64(i * layout.rssItemSize)
            if layout.rssIsPercpu, let count = layout.rssCounterCount {
                guard let v = try? memory.readVirtualU64(item &+ UInt64(count.offset)) else { return nil }
                total &+= Int64(bitPattern: v)
                if let pc = layout.rssCounterPercpu, let base = try? memory.readVirtualU64(item &+ UInt64(pc.offset)),
                   base != 0, let offsets {
                    for o in offsets {
                        if let w = try? memory.readVirtual(base &+ o, count: 4) {
                            let v = UInt32(w[0]) | UInt32(w[1]) << 8 | UInt32(w[2]) << 16 | UInt32(w[3]) << 24
                            total &+= Int64(Int32(bitPattern: v))
                        }
                    }
                }
            } else {
                guard let v = try? memory.readVirtualU64(item) else { return nil }
                total &+= Int64(bitPattern: v)
            }
        }
        return total < 0 ? 0 : UInt64(total)
    }
}
