import Testing
import Foundation
import MKDebugInfo
import MKKernel

/// Types from the kernel's .BTF in its memory, against the vmlinux's DWARF
/// on the same dump; the helpers run without the vmlinux as they do with it.
@Suite(.serialized) struct BtfTests {
    /// Structs the helpers and users read, each checked member by member.
    static let structs = [
        "task_struct", "mm_struct", "vm_area_struct", "file", "inode", "dentry", "super_block", "mount",
        "vfsmount", "path", "list_head", "hlist_head", "hlist_node", "rb_node", "rb_root", "maple_tree",
        "xarray", "page", "folio", "kmem_cache", "kmem_cache_node", "module", "net_device", "net", "sock",
        "socket", "sk_buff", "irq_desc", "irqaction", "timer_list", "hrtimer", "hrtimer_cpu_base", "rq",
        "cfs_rq", "sched_entity", "signal_struct", "sighand_struct", "files_struct", "fdtable",
        "fs_struct", "nsproxy", "mnt_namespace", "uts_namespace", "pid", "pid_namespace",
        "printk_ringbuffer", "prb_desc_ring", "cred", "wait_queue_head", "swap_info_struct", "ipc_namespace",
    ]

    @Test(arguments: ["running", "panicked"]) func structLayoutsAgreeWithDwarf(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let t = try fx.target()
        let dwarf = try t.requireDebugInfo()
        let btf = try BtfTypes.load(memory: t.memory, symbols: try t.requireSymbols(), image: fx.elf)
        #expect(btf.file.typeCount > 50_000, "\(btf.file.typeCount) types")
        var checkedMembers = 0, compared = 0
        for s in Self.structs {
            guard let d = dwarf.findType("struct " + s) else { continue }  // folio: 6.1 has it too, but be safe
            let b = try #require(btf.findType("struct " + s), "BTF has no struct \(s)")
            compared += 1
            #expect(b.byteSize == d.byteSize, "sizeof(struct \(s)): BTF \(String(describing: b.byteSize)), DWARF \(String(describing: d.byteSize))")
            let dm = d.resolved.members, bm = b.resolved.members
            #expect(dm.count == bm.count, "struct \(s): \(bm.count) members in BTF, \(dm.count) in DWARF")
            for (x, y) in zip(dm, bm) {
                #expect(x.name == y.name && x.offset == y.offset && x.bitOffset == y.bitOffset && x.bitSize == y.bitSize,
                        "struct \(s).\(x.name ?? "?"): DWARF +\(x.offset) bits \(String(describing: x.bitOffset))/\(String(describing: x.bitSize)), BTF \(y.name ?? "?") +\(y.offset) \(String(describing: y.bitOffset))/\(String(describing: y.bitSize))")
                #expect(TypeFormatter.name(of: x.type) == TypeFormatter.name(of: y.type) || x.type.resolved.kind == .array,
                        "struct \(s).\(x.name ?? "?"): DWARF \(x.type), BTF \(y.type)")
                checkedMembers += 1
            }
        }
        #expect(compared >= 48, "\(compared) structs compared")
        // Enumerators and per-CPU variables too.
        for e in ["PIDTYPE_PID", "PIDTYPE_MAX", "NR_FREE_PAGES", "NR_VM_ZONE_STAT_ITEMS", "MOD_TEXT"] {
            if let d = dwarf.enumerator(e) {
                #expect(btf.enumerator(e)?.value == d.value, "\(e)")
            }
        }
        #expect(btf.variable("runqueues").map { TypeFormatter.name(of: $0.type) } == "struct rq")
        print("btf \(name): \(btf.file.typeCount) types; \(compared) structs, \(checkedMembers) members as DWARF has them")
    }

    /// Without the vmlinux the helpers answer as with it: sys, ps, log, mod, per_cpu, list, bt's functions.
    @Test func helpersWithoutDebugInfoAgree() throws {
        let fx = try LabFixture.load("panicked")
        let commands = ["ps", "mod", "per_cpu runqueues.nr_running", "list -H -s task_struct.tasks,pid,comm init_task.tasks",
                        "p sizeof(struct task_struct)", "p &((struct task_struct *)0)->tasks",
                        "p ((struct task_struct *)&init_task)->comm"]
        let with = try runMkdbg(["-c", fx.elf] + commands.flatMap { ["-e", $0] })
        let without = try runMkdbg(["--no-debuginfo", "-c", fx.elf] + commands.flatMap { ["-e", $0] })
        #expect(with.status == 0 && without.status == 0, "\(without.err)")
        let wl = with.out.split(separator: "\n"), ol = without.out.split(separator: "\n")
        let firstDiff = zip(wl, ol).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(without.out == with.out, "\(wl.count) lines with DWARF, \(ol.count) without; first differing: \(String(describing: firstDiff))")
        #expect(without.err.contains("types from its BTF"), "\(without.err)")
        for comm in fx.processes { #expect(without.out.contains(comm), "ps lacks \(comm)") }

        let sys = try runMkdbg(["--no-debuginfo", "-c", fx.elf, "-e", "sys", "-e", "log"])
        #expect(sys.out.contains(fx.release), "release")
        #expect(sys.out.contains("Kernel panic - not syncing: sysrq triggered crash"), "\(sys.out.prefix(1200))")
        #expect(sys.out.contains(fx.marker), "marker \(fx.marker) not in the log")

        // bt: the same out-of-line functions as with DWARF (which adds inlined levels), through sysrq_handle_crash.
        func functions(_ out: String) -> [String] {
            out.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("#"), !line.contains("(inlined)"), let r = line.range(of: " in ") else { return nil }
                return String(line[r.upperBound...].split(separator: "+").first ?? "")
            }
        }
        let btWith = try runMkdbg(["-c", fx.elf, "-e", "bt"]), btWithout = try runMkdbg(["--no-debuginfo", "-c", fx.elf, "-e", "bt"])
        let a = functions(btWith.out), b = functions(btWithout.out)
        #expect(b.contains("sysrq_handle_crash") && b.count >= 6, "\(btWithout.out)")
        #expect(a == b, "with DWARF \(a), without \(b)")
    }

    @Test func infoImageNamesTheSources() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["--no-debuginfo", "--json", "-c", fx.elf, "-e", "info image", "-e", "info debuginfo"])
        let lines = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(lines.count == 2, "\(r.out)")
        #expect(lines[0]["types"] as? String == "btf" && lines[0]["symbols"] as? String == "kallsyms")
        #expect(lines[1]["vmlinux"] is NSNull && (lines[1]["names"] as? Int ?? 0) > 50_000, "\(lines[1])")
        let with = try runMkdbg(["--json", "-c", fx.elf, "-e", "info image"])
        #expect(with.out.contains("\"types\":\"dwarf\""), "\(with.out)")
    }

    /// Hostile BTF: a clear error naming the offset, never a trap or a huge allocation.
    @Test func malformedBtfIsAnError() throws {
        func header(typeLength: UInt32, stringLength: UInt32) -> [UInt8] {
            var b: [UInt8] = [0x9f, 0xeb, 1, 0]
            for v in [UInt32(24), 0, typeLength, typeLength, stringLength] { b += withUnsafeBytes(of: v.littleEndian, Array.init) }
            return b
        }
        func record(name: UInt32, kind: UInt32, vlen: UInt32, sizeOrType: UInt32) -> [UInt8] {
            [name, kind << 24 | vlen, sizeOrType].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        }
        func error(_ bytes: [UInt8]) -> String {
            do { _ = try BtfFile(bytes: bytes, source: "test.btf"); return "no error" } catch { return "\(error)" }
        }
        #expect(error([0x9f, 0xeb, 1]).contains("expected a 24-byte header"))
        #expect(error([0x00, 0x00] + [UInt8](repeating: 0, count: 30)).contains("magic 0x0, expected 0xeb9f"))
        // a type section running past the data
        #expect(error(header(typeLength: 1 << 30, stringLength: 1)).contains("runs past the data"))
        // a struct claiming 65535 members in a 12-byte record
        let big = record(name: 0, kind: 4, vlen: 0xffff, sizeOrType: 8)
        #expect(error(header(typeLength: UInt32(big.count), stringLength: 1) + big + [0]).contains("run past the type section"))
        // an unknown kind
        let odd = record(name: 0, kind: 31, vlen: 0, sizeOrType: 0)
        #expect(error(header(typeLength: UInt32(odd.count), stringLength: 1) + odd + [0]).contains("kind 31"))
        // a pointer cycle and an id past the end are types, not traps
        let cyc = record(name: 0, kind: 8, vlen: 0, sizeOrType: 2) + record(name: 0, kind: 8, vlen: 0, sizeOrType: 1)
            + record(name: 0, kind: 2, vlen: 0, sizeOrType: 99)
        let file = try BtfFile(bytes: header(typeLength: UInt32(cyc.count), stringLength: 1) + cyc + [0], source: "test.btf")
        let types = BtfTypes(file: file)
        #expect(types.type(1).resolved.kind == .typedef)  // resolved stops after 64 steps
        #expect(types.type(3).target?.name?.contains("bad BTF type 99") == true)
    }
}
