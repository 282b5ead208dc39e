import Testing
import Foundation

/// `vm` and `files` on the lab's dumps (Debian 6.1: VMAs in the maple tree),
/// checked against what the guest ran (scripts/labkit/lab: init and every
/// `mk-*` process are busybox; workers hold the FIFO /run/mk/idle open; the
/// panicker's shell writes `c` to /proc/sysrq-trigger), against the task's
/// saved user registers, and against the kernel's own structures read with
/// `p`. scripts/parity compares every VMA and fd with drgn.
@Suite(.serialized) struct VmFilesTests {
    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
    static func number(_ s: Any?) throws -> UInt64 {
        let text = try #require(s as? String, "\(String(describing: s)) is not a hex string")
        return try #require(UInt64(text.dropFirst(2), radix: 16), "\(text) is not a hex number")
    }

    struct Vma { var address, start, end, flags: UInt64; var path: String? }

    static func vmas(_ o: [String: Any]) throws -> [Vma] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["vmas"] as? [[String: Any]]).map { v in
            Vma(address: try number(v["address"]), start: try number(v["start"]), end: try number(v["end"]),
                flags: try number(v["flags"]), path: v["path"] as? String)
        }
    }

    static func task(_ ps: [String: Any], pid: Int) throws -> String {
        try #require(try KernelTests.tasks(ps).first { $0.pid == pid && !$0.idle }).task
    }

    /// `vm 1`: init's address space. Its VMAs are in address order and do
    /// not overlap; busybox (the guest's init) is mapped, with one
    /// executable mapping holding the user pc init's saved `pt_regs` hold,
    /// and the stack VMA (VM_GROWSDOWN) holds its user sp; mm, pgd and
    /// total_vm are the mm_struct's, and each VMA's bounds are its
    /// `vm_area_struct`'s.
    @Test(arguments: ["running", "panicked"]) func initsAddressSpace(fixture: String) throws {
        let fx = try LabFixture.load(fixture)
        let ps = try KernelTests.json(fx.elf, ["ps 1"])[0]
        let t = try Self.task(ps, pid: 1)
        let regs = "((struct pt_regs *)((unsigned long)((struct task_struct *)\(t))->stack + 16384) - 1)"
        let o = try KernelTests.json(fx.elf, ["vm 1", "p ((struct task_struct *)\(t))->mm", "p \(regs)->ip", "p \(regs)->sp"])
        let vm = o[0]
        let areas = try Self.vmas(vm)
        #expect(vm["pid"] as? Int == 1 && vm["comm"] as? String == "init")
        let mm = try #require(o[1]["integer"] as? UInt64)
        #expect(try Self.number(vm["mm"]) == mm)
        #expect(areas.count >= 5, "\(areas.count) VMAs")
        for (a, b) in zip(areas, areas.dropFirst()) {
            #expect(a.start < a.end && a.end <= b.start, "\(Self.hex(a.start))-\(Self.hex(a.end)) then \(Self.hex(b.start))")
        }
        #expect(areas.allSatisfy { $0.start & 0xfff == 0 && $0.end & 0xfff == 0 })
        let busybox = areas.filter { $0.path == "/bin/busybox" }
        #expect(busybox.count >= 2, "\(areas.map { $0.path ?? "-" })")
        let ip = try #require(o[2]["integer"] as? UInt64), sp = try #require(o[3]["integer"] as? UInt64)
        let code = try #require(areas.first { $0.start <= ip && ip < $0.end }, "no VMA holds the user pc \(Self.hex(ip))")
        #expect(code.path == "/bin/busybox" && code.flags & 0x4 != 0, "pc in \(code.path ?? "-") flags \(Self.hex(code.flags))")
        let stack = try #require(areas.first { $0.start <= sp && sp < $0.end }, "no VMA holds the user sp \(Self.hex(sp))")
        #expect(stack.path == nil && stack.flags & 0x100 != 0, "sp in flags \(Self.hex(stack.flags))")

        // The same numbers read member by member.
        var cmds = ["p ((struct mm_struct *)\(Self.hex(mm)))->pgd", "p ((struct mm_struct *)\(Self.hex(mm)))->total_vm"]
        for a in areas.prefix(4) {
            cmds += ["p ((struct vm_area_struct *)\(Self.hex(a.address)))->vm_start",
                     "p ((struct vm_area_struct *)\(Self.hex(a.address)))->vm_end"]
        }
        let m = try KernelTests.json(fx.elf, cmds)
        #expect(try Self.number(vm["pgd"]) == m[0]["integer"] as? UInt64)
        #expect(vm["total_vm_kb"] as? UInt64 == (m[1]["integer"] as? UInt64).map { $0 * 4 })
        for (i, a) in areas.prefix(4).enumerated() {
            #expect(m[2 + 2 * i]["integer"] as? UInt64 == a.start && m[3 + 2 * i]["integer"] as? UInt64 == a.end)
        }

        let text = try runMkdbg(["-c", fx.elf, "-e", "vm 1"]).out
        #expect(text.contains("      VMA           START       END     FLAGS FILE"), "\(text)")
        let first = try #require(areas.first)
        let start = String(first.start, radix: 16)
        #expect(text.contains(String(first.address, radix: 16) + " " + String(repeating: " ", count: 12 - start.count) + start),
                "\(text)")
    }

    /// The panicker's shell has /proc/sysrq-trigger open for writing (its
    /// `echo c >…`), a regular file; the workers hold the FIFO /run/mk/idle.
    /// Each file's inode and dentry are its `struct file`'s.
    @Test func filesTheLabProcessesOpened() throws {
        let panicked = try LabFixture.load("panicked")
        let facts = try KernelTests.facts(panicked)
        let pids = try #require(facts["pids"] as? [String: Int])
        let panicker = try #require(pids["mk-panicker"])
        let o = try KernelTests.json(panicked.elf, ["files \(panicker)"])[0]
        #expect(o["ok"] as? Bool == true, "\(o)")
        #expect(o["comm"] as? String == "mk-panicker" && o["root"] as? String == "/")
        let files = try #require(o["files"] as? [[String: Any]])
        let sysrq = try #require(files.first { $0["path"] as? String == "/proc/sysrq-trigger" }, "\(files)")
        #expect(sysrq["type"] as? String == "REG" && sysrq["fd"] as? Int == 1)
        #expect(files.contains { $0["fd"] as? Int == 0 && $0["path"] as? String == "/dev/null" && $0["type"] as? String == "CHR" })
        let file = try Self.number(sysrq["file"])
        let m = try KernelTests.json(panicked.elf, ["p ((struct file *)\(Self.hex(file)))->f_inode",
                                                    "p ((struct file *)\(Self.hex(file)))->f_path.dentry",
                                                    "p/o ((struct file *)\(Self.hex(file)))->f_inode->i_mode"])
        #expect(try Self.number(sysrq["inode"]) == m[0]["integer"] as? UInt64)
        #expect(try Self.number(sysrq["dentry"]) == m[1]["integer"] as? UInt64)
        #expect(((m[2]["integer"] as? UInt64) ?? 0) & 0o170000 == 0o100000)

        let running = try LabFixture.load("running")
        let worker = try #require(try KernelTests.facts(running)["pids"] as? [String: Int])["mk-worker-1"]
        let w = try KernelTests.json(running.elf, ["files \(try #require(worker))"])[0]
        let wf = try #require(w["files"] as? [[String: Any]])
        #expect(wf.contains { $0["path"] as? String == "/run/mk/idle" && $0["type"] as? String == "FIFO" }, "\(wf)")
        let text = try runMkdbg(["-c", panicked.elf, "-e", "files \(panicker)"]).out
        #expect(text.contains(" FD       FILE            DENTRY           INODE       TYPE PATH"), "\(text)")
        #expect(text.contains(" REG  /proc/sysrq-trigger"), "\(text)")
    }

    /// kthreadd has no mm: vm says so; `set PID` selects the task a bare vm and files show.
    @Test func aKernelThreadHasNoMmAndSetSelects() throws {
        let fx = try LabFixture.load("running")
        let o = try KernelTests.json(fx.elf, ["vm 2", "set 2", "files", "vm"])
        #expect(o[0]["ok"] as? Bool == true && o[0]["comm"] as? String == "kthreadd")
        #expect(o[0]["mm"] is NSNull && (o[0]["vmas"] as? [Any])?.isEmpty == true)
        #expect(o[2]["pid"] as? Int == 2 && o[3]["pid"] as? Int == 2)
        let text = try runMkdbg(["-c", fx.elf, "-e", "vm 2"]).out
        #expect(text.contains("(PID 2 is a kernel thread: it has no mm)"), "\(text)")
    }

    /// The JSON objects hold the declared fields, with the documented types.
    @Test func jsonShape() throws {
        let fx = try LabFixture.load("panicked")
        let o = try KernelTests.json(fx.elf, ["vm 1", "files 1"])
        #expect(Set(o[0].keys) == ["command", "name", "ok", "task", "pid", "comm", "cpu", "mm", "pgd", "rss_kb",
                                   "total_vm_kb", "vmas", "warnings"])
        let v = try #require((o[0]["vmas"] as? [[String: Any]])?.first)
        #expect(Set(v.keys) == ["address", "start", "end", "flags", "file", "path"])
        #expect(Set(o[1].keys) == ["command", "name", "ok", "task", "pid", "comm", "cpu", "root", "cwd", "files", "warnings"])
        let f = try #require((o[1]["files"] as? [[String: Any]])?.first)
        #expect(Set(f.keys) == ["fd", "file", "dentry", "inode", "type", "path"])
        #expect((o[0]["rss_kb"] as? UInt64 ?? 0) > 0 && (o[0]["warnings"] as? [String])?.isEmpty == true)
    }

    /// Where init's maple tree lives: its mm, the root node, and the offsets damage needs.
    struct Tree {
        var fx: LabFixture
        var task: String
        var mm: UInt64
        var node: UInt64
        var rootAddress: UInt64
        var flagsAddress: UInt64
        var pivot: UInt64
        var slot: UInt64
        var count: Int

        init() throws {
            fx = try LabFixture.load("running")
            task = try VmFilesTests.task(try KernelTests.json(fx.elf, ["ps 1"])[0], pid: 1)
            let o = try KernelTests.json(fx.elf, ["vm 1", "p offsetof(struct mm_struct, mm_mt.ma_root)",
                                                  "p offsetof(struct mm_struct, mm_mt.ma_flags)",
                                                  "p offsetof(struct maple_range_64, pivot)",
                                                  "p offsetof(struct maple_range_64, slot)"])
            mm = try VmFilesTests.number(o[0]["mm"])
            count = try VmFilesTests.vmas(o[0]).count
            rootAddress = mm + (try #require(o[1]["integer"] as? UInt64))
            flagsAddress = mm + (try #require(o[2]["integer"] as? UInt64))
            pivot = try #require(o[3]["integer"] as? UInt64)
            slot = try #require(o[4]["integer"] as? UInt64)
            let root = try #require(try KernelTests.json(fx.elf, ["p/x ((struct mm_struct *)\(VmFilesTests.hex(mm)))->mm_mt.ma_root"])[0]["integer"] as? UInt64)
            // init's few VMAs fit one leaf: maple_leaf_64, type 1 in bits 3-6.
            #expect(root & 0xff == 0x0e, "root \(VmFilesTests.hex(root)) is not a leaf node")
            node = root & ~0xff
        }

        /// Sets the height bits (2-6) of `ma_flags`, an unsigned int: 4 bytes only, for
        /// 6.12 puts ma_root right after it (6.1 has ma_root first).
        func setHeight(_ height: UInt32, in damaged: DamagedDump) throws {
            let bytes = try damaged.target.memory.readVirtual(flagsAddress, count: 4)
            let flags = bytes.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << UInt32(8 * $1.offset) }
            let new = (flags & ~0x7c) | (height << 2)
            try damaged.write((0..<4).map { UInt8(truncatingIfNeeded: new >> UInt32(8 * $0)) }, atVirtual: flagsAddress)
        }
    }

    /// A pivot lower than the one before it: the walk keeps the VMA before it,
    /// stops the node there, and says which node and pivot.
    @Test func pivotsThatDoNotIncrease() throws {
        let tree = try Tree()
        let damaged = try DamagedDump(tree.fx, name: "maple-pivots")
        defer { damaged.remove() }
        try damaged.write(0x1000, atVirtual: tree.node + tree.pivot + 16)
        let (r, o) = try HostileWalkTests.run(damaged.path, ["vm \(tree.task)"])
        #expect(r.status == 0)
        guard o.count == 1 else { return }
        let areas = try Self.vmas(o[0])
        #expect(areas.map(\.start) == [0x400000], "\(areas.map { Self.hex($0.start) })")
        let w = HostileWalkTests.warnings(o[0])
        #expect(w.contains { $0.contains("mm_mt of mm_struct \(Self.hex(tree.mm))") && $0.contains("pivot 2 is 0x1000")
                && $0.contains("(at \(Self.hex(tree.node)))") }, "\(w)")
    }

    /// The root re-typed as an internal node whose first slot points back at
    /// itself (and a height that allows it): the cycle is named, the VMA
    /// pointers that are not node pointers are refused, and the walk ends.
    @Test func aTreeThatLoopsBackToItsRoot() throws {
        let tree = try Tree()
        let damaged = try DamagedDump(tree.fx, name: "maple-cycle")
        defer { damaged.remove() }
        let encoded = tree.node | 0x12  // maple_range_64 (2) in bits 3-6, bit 1: a node
        try damaged.write(encoded, atVirtual: tree.rootAddress)
        try damaged.write(encoded, atVirtual: tree.node + tree.slot)
        try tree.setHeight(8, in: damaged)
        let (r, o) = try HostileWalkTests.run(damaged.path, ["vm \(tree.task)"], deadline: 30)
        #expect(r.status == 0 && r.seconds < 10)
        guard o.count == 1 else { return }
        #expect(try Self.vmas(o[0]).isEmpty)
        let w = HostileWalkTests.warnings(o[0])
        #expect(w.contains { $0.contains("node \(Self.hex(tree.node)) is reached a second time (a cycle)") }, "\(w)")
        #expect(w.contains { $0.contains("slot 1 holds") && $0.contains("not a node pointer") }, "\(w)")
    }

    /// init's full leaf split into two leaves under an arange_64 root (the
    /// node type mm_mt's internal nodes have), each leaf ending where the
    /// kernel says (metadata `end`): the same VMAs come out, in order. A root
    /// pivot that cuts into the first leaf's range is then reported, naming
    /// the leaf.
    @Test func aTwoLevelTreeFromInitsLeaf() throws {
        let tree = try Tree()
        let o = try KernelTests.json(tree.fx.elf, ["vm \(tree.task)", "p offsetof(struct maple_range_64, meta.end)",
                                                   "p offsetof(struct maple_arange_64, pivot)",
                                                   "p offsetof(struct maple_arange_64, slot)",
                                                   "p offsetof(struct maple_arange_64, meta.end)"])
        let want = try Self.vmas(o[0]).map(\.address)
        let rangeEnd = try #require(o[1]["integer"] as? UInt64), aPivot = try #require(o[2]["integer"] as? UInt64)
        let aSlot = try #require(o[3]["integer"] as? UInt64), aEnd = try #require(o[4]["integer"] as? UInt64)
        let damaged = try DamagedDump(tree.fx, name: "maple-two-level")
        defer { damaged.remove() }
        let memory = damaged.target.memory
        let pivots = try (0..<15).map { try memory.readVirtualU64(tree.node + tree.pivot + UInt64(8 * $0)) }
        let slots = try (0..<16).map { try memory.readVirtualU64(tree.node + tree.slot + UInt64(8 * $0)) }
        // The lab's init has 15 slots in use: the leaf is full, its last pivot the tree's maximum.
        #expect(pivots[14] == UInt64.max, "\(pivots.map { Self.hex($0) })")
        // Nodes are 256-byte aligned (the low byte of a node pointer holds its type).
        let base = (try damaged.zeroedMemory(count: 4096) + 255) & ~0xff
        let l1 = base, l2 = base + 256, root = base + 512
        let split = 6, cut = pivots[split]
        for i in 0..<split { try damaged.write(pivots[i], atVirtual: l1 + tree.pivot + UInt64(8 * i)) }
        for i in 0...split { try damaged.write(slots[i], atVirtual: l1 + tree.slot + UInt64(8 * i)) }
        try damaged.write([UInt8(split)], atVirtual: l1 + rangeEnd)
        for i in (split + 1)..<14 { try damaged.write(pivots[i], atVirtual: l2 + tree.pivot + UInt64(8 * (i - split - 1))) }
        for i in (split + 1)...14 { try damaged.write(slots[i], atVirtual: l2 + tree.slot + UInt64(8 * (i - split - 1))) }
        try damaged.write([UInt8(14 - split - 1)], atVirtual: l2 + rangeEnd)
        try damaged.write(cut, atVirtual: root + aPivot)
        try damaged.write(l1 | 0x0e, atVirtual: root + aSlot)  // maple_leaf_64 (1) in bits 3-6
        try damaged.write(l2 | 0x0e, atVirtual: root + aSlot + 8)
        try damaged.write([1], atVirtual: root + aEnd)
        try damaged.write(root | 0x1a, atVirtual: tree.rootAddress)  // maple_arange_64 (3)
        try tree.setHeight(2, in: damaged)

        let (_, two) = try HostileWalkTests.run(damaged.path, ["vm \(tree.task)"])
        guard two.count == 1 else { return }
        #expect(try Self.vmas(two[0]).map(\.address) == want)
        #expect(HostileWalkTests.warnings(two[0]).isEmpty, "\(HostileWalkTests.warnings(two[0]))")

        try damaged.write(0x500000, atVirtual: root + aPivot)
        let (_, bad) = try HostileWalkTests.run(damaged.path, ["vm \(tree.task)"])
        guard bad.count == 1 else { return }
        let w = HostileWalkTests.warnings(bad[0])
        #expect(w.contains { $0.contains("pivot 2 is 0x584fff, outside 0x401000–0x500000") && $0.contains("(at \(Self.hex(l1)))") },
                "\(w)")
        // The first leaf keeps its first VMA and loses slots 2-6 (five VMAs); the second leaf is whole.
        let starts = try Self.vmas(bad[0]).map(\.start)
        #expect(starts.first == 0x400000 && !starts.contains(0x401000) && starts.count == want.count - 5,
                "\(starts.map { Self.hex($0) })")
    }

    /// The panicker's fdtable claims 2^31-1 descriptors in an array of zeroed
    /// memory: files reads NR_OPEN of them, says so, and ends quickly.
    @Test func anFdTableClaimingBillionsOfDescriptors() throws {
        let fx = try LabFixture.load("panicked")
        let pid = try #require(try KernelTests.facts(fx)["pids"] as? [String: Int])["mk-panicker"]
        let panicker = try #require(pid)
        let o = try KernelTests.json(fx.elf, ["ps \(panicker)"])
        let task = try Self.task(o[0], pid: panicker)
        let q = try KernelTests.json(fx.elf, ["p ((struct task_struct *)\(task))->files->fdt",
                                              "p offsetof(struct fdtable, max_fds)", "p offsetof(struct fdtable, fd)"])
        let fdt = try #require(q[0]["integer"] as? UInt64)
        let maxFds = try #require(q[1]["integer"] as? UInt64), fdArray = try #require(q[2]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "fdtable")
        defer { damaged.remove() }
        let zeroed = try damaged.zeroedMemory(count: 8 << 20)
        try damaged.write(zeroed, atVirtual: fdt + fdArray)
        try damaged.write([0xff, 0xff, 0xff, 0x7f], atVirtual: fdt + maxFds)
        let (r, out) = try HostileWalkTests.run(damaged.path, ["files \(task)"], deadline: 30)
        #expect(r.status == 0 && r.seconds < 15, "\(r.seconds) s")
        guard out.count == 1 else { return }
        #expect((out[0]["files"] as? [Any])?.isEmpty == true)
        let w = HostileWalkTests.warnings(out[0])
        #expect(w.contains { $0.contains("max_fds is 2147483647, more than NR_OPEN (1048576)") }, "\(w)")
    }

    /// /dev/null's and /dev/console's dentries made each other's parent:
    /// the path walk names the cycle, keeps what it had after a `?`, and
    /// the other descriptors keep their paths.
    @Test func dentriesThatAreEachOthersParent() throws {
        let fx = try LabFixture.load("panicked")
        let pid = try #require(try KernelTests.facts(fx)["pids"] as? [String: Int])["mk-panicker"]
        let panicker = try #require(pid)
        let o = try KernelTests.json(fx.elf, ["files \(panicker)", "p offsetof(struct dentry, d_parent)"])
        let files = try #require(o[0]["files"] as? [[String: Any]])
        let null = try Self.number(try #require(files.first { $0["path"] as? String == "/dev/null" })["dentry"])
        let console = try Self.number(try #require(files.first { $0["path"] as? String == "/dev/console" })["dentry"])
        let parent = try #require(o[1]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "dentry-cycle")
        defer { damaged.remove() }
        try damaged.write(console, atVirtual: null + parent)
        try damaged.write(null, atVirtual: console + parent)
        let (r, out) = try HostileWalkTests.run(damaged.path, ["files \(panicker)"])
        #expect(r.status == 0)
        guard out.count == 1 else { return }
        let after = try #require(out[0]["files"] as? [[String: Any]])
        #expect(after.contains { $0["fd"] as? Int == 0 && $0["path"] as? String == "?/console/null" }, "\(after)")
        #expect(after.contains { $0["path"] as? String == "/proc/sysrq-trigger" })
        let w = HostileWalkTests.warnings(out[0])
        #expect(w.contains { $0.contains("dentry \(Self.hex(null)) is met twice on the way to the root (a cycle)") }, "\(w)")
    }

    /// A walk limit of 1 is spent on the tree's one node: the VMAs are all
    /// listed, their paths are not walked (`?`), and the warning names the setting.
    @Test func aWalkLimitTooSmallForThePaths() throws {
        let tree = try Tree()
        let o = try KernelTests.json(tree.fx.elf, ["set walk-limit 1", "vm \(tree.task)", "files \(tree.task)"])
        let areas = try Self.vmas(o[1])
        #expect(areas.count == tree.count)
        #expect(areas.allSatisfy { $0.path == nil || $0.path == "?" }, "\(areas.map { $0.path ?? "-" })")
        let w = HostileWalkTests.warnings(o[1])
        #expect(w.contains { $0.contains("walk budget of 1 links") && $0.contains("set walk-limit") }, "\(w)")
        #expect(HostileWalkTests.warnings(o[2]).contains { $0.contains("set walk-limit") })
    }
}

/// `vm -p`: the pages of init's busybox mapping through init's own page tables.
@Suite(.serialized) struct VmPagesTests {
    @Test(arguments: ["running", "panicked"]) func initsFirstPageIsTheELFHeader(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let o = try KernelTests.json(fx.elf, ["vm -p 1", "vm 1"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let vmas = try #require(o[0]["vmas"] as? [[String: Any]])
        #expect(vmas.count == (o[1]["vmas"] as? [Any])?.count)
        let text = try #require(vmas.first { $0["start"] as? String == "0x400000" }, "\(vmas.map { $0["start"] ?? "" })")
        #expect((text["path"] as? String)?.hasSuffix("busybox") == true)
        let pages = try #require(text["pages"] as? [[String: Any]])
        let end = try #require((text["end"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
        #expect(pages.count == Int((end - 0x400000) / 4096))
        // The ELF header of the mapped file, read at the physical page init's tables give.
        let physical = try #require(pages.first?["physical"] as? String, "\(pages.first ?? [:])")
        let x = try KernelTests.json(fx.elf, ["x/4xb -p \(physical)"])[0]
        let bytes = ((x["rows"] as? [[String: Any]])?.first?["values"] as? [Any])?.compactMap { ($0 as? String) ?? ($0 as? NSNumber)?.stringValue }
        #expect(bytes == ["0x7f", "0x45", "0x4c", "0x46"], "\(x)")
        // A kernel thread has no mm, so no pages.
        let bad = try runMkdbg(["-c", fx.elf, "-e", "vm -p 2"])
        #expect(bad.status == 0 && bad.out.contains("kernel thread"), "\(bad.out) \(bad.err)")
    }
}
