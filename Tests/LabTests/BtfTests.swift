import Testing
import Foundation
import MKDebugInfo
import MKKernel
import MKValues

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

    /// `symbol-file` switches a target opened without debug info to the vmlinux's DWARF; a vmlinux of
    /// another build is refused, naming both build-ids.
    @Test func symbolFileSwitchesToDwarf() throws {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["--no-debuginfo", "--json", "-c", fx.elf, "-e", "info image", "-e", "symbol-file \(fx.vmlinux)",
                              "-e", "info image", "-e", "bt"])
        let lines = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(lines.count == 4, "\(r.out) \(r.err)")
        #expect(lines[0]["types"] as? String == "btf")
        #expect(lines[1]["build_id"] as? String == fx.buildId && lines[1]["problem"] is NSNull, "\(lines[1])")
        #expect(lines[2]["types"] as? String == "dwarf" && lines[2]["vmlinux"] as? String == fx.vmlinux, "\(lines[2])")
        // DWARF is back: bt has source lines again
        let frames = lines[3]["frames"] as? [[String: Any]] ?? []
        #expect(frames.contains { ($0["file"] as? String)?.hasSuffix("panic.c") == true }, "\(frames.prefix(4))")

        let other = LabFixture.root.hasSuffix("6.12") ? "fixtures" : "fixtures-6.12"
        let otherFacts = (LabFixture.root as NSString).deletingLastPathComponent + "/\(other)/panicked/facts.json"
        guard let data = FileManager.default.contents(atPath: otherFacts),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any], let wrong = json["vmlinux"] as? String else { return }
        let bad = try runMkdbg(["--no-debuginfo", "-c", fx.elf, "-e", "symbol-file \(wrong)"])
        #expect(bad.status != 0 && bad.err.contains(fx.buildId), "\(bad.err)")
    }

    /// `sym` and `info symbol` name module code from the module's kallsyms, with or without the
    /// vmlinux: the panicking frame in pvpanic, as bt names it.
    @Test(arguments: [false, true]) func symNamesModuleCode(_ bare: Bool) throws {
        let fx = try LabFixture.load("panicked")
        let flags = bare ? ["--no-debuginfo"] : []
        let bt = try BacktraceTests.json(fx, ["bt"])
        let frames = bt.first?["frames"] as? [[String: Any]] ?? []
        guard let f = frames.first(where: { $0["module"] as? String == "pvpanic" }), let pc = f["pc"] as? String,
              let function = f["function"] as? String else {
            Issue.record("no pvpanic frame in \(frames.prefix(3))"); return
        }
        let r = try runMkdbg(flags + ["--json", "-c", fx.elf, "-e", "sym \(pc)", "-e", "sym \(function)", "-e", "info symbol \(pc)"])
        let lines = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(lines.count == 3, "\(r.out) \(r.err)")
        #expect(lines[0]["name"] as? String == function && lines[0]["module"] as? String == "pvpanic", "\(lines[0])")
        let start = lines[1]["symbol_address"] as? String
        #expect(start == lines[0]["symbol_address"] as? String && lines[1]["module"] as? String == "pvpanic", "\(lines[1])")
        #expect((lines[2]["output"] as? String)?.hasSuffix("in module pvpanic") == true, "\(lines[2])")
    }

    // MARK: modules' split BTF

    /// Structs only loaded modules define (zram, zsmalloc, qemu_fw_cfg are modules on every lab kernel).
    static let moduleStructs = ["zram", "zram_table_entry", "zram_stats", "zs_pool", "size_class", "zspage", "fw_cfg_sysfs_entry",
                                "fw_cfg_vmcoreinfo"]

    /// The debug `.ko` of each loaded module, from the symbol store's `lib/modules/RELEASE`.
    static func moduleDebugFiles(_ fx: LabFixture, _ names: [String]) -> [String] {
        let root = (LabFixture.projectRoot + "/symbols/lib/modules/\(fx.release)" as NSString).resolvingSymlinksInPath
        let wanted = Set(names.flatMap { [$0 + ".ko", $0.replacingOccurrences(of: "_", with: "-") + ".ko"] })
        let all = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return all.filter { wanted.contains(($0 as NSString).lastPathComponent) }.map { root + "/" + $0 }
    }

    /// Module types from the modules' split BTF in memory (no vmlinux) have the sizes and member
    /// offsets the modules' own DWARF gives drgn, and the vmlinux's BTF alone does not have them.
    @Test(arguments: ["running", "panicked"]) func moduleTypesFromSplitBtfAgreeWithModuleDwarf(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let facts = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: fx.directory + "/facts.json"))) as? [String: Any]
        let loaded = facts?["modules"] as? [String] ?? []
        var options = Target.Options()
        options.noDebugInfo = true
        let t = try Target(imagePath: fx.elf, options: options)
        let btf = try #require(try t.requireTypes() as? BtfTypes)
        let kernel = Kernel(target: t, evaluator: Evaluator(types: btf, memory: t.memory, symbols: t.symbols))
        let vmlinuxOnly = BtfTypes(file: btf.file)
        let set = kernel.moduleBtf(base: btf)
        #expect(set.problems.isEmpty, "\(set.problems)")
        #expect(Set(set.modules.compactMap(\.moduleName)) == Set(loaded), "module BTF of \(set.modules.compactMap(\.moduleName)), loaded \(loaded)")

        let ko = Self.moduleDebugFiles(fx, loaded)
        try #require(ko.count >= 3, "no module debug files under symbols/lib/modules/\(fx.release)")
        let oracle = try Arm64Tests.drgnJSON(fx, """
        out = {}
        prog.load_debug_info(sys.argv[3:])
        for n in \(Self.moduleStructs):
            try: t = prog.type("struct " + n)
            except LookupError: continue
            out[n] = {"size": t.size, "members": [[m.name, m.bit_offset, m.bit_field_size or 0] for m in t.members]}
        print(json.dumps(out))
        """, extra: ko) as? [String: [String: Any]] ?? [:]
        #expect(oracle.count >= 6, "drgn found \(oracle.keys.sorted()) in \(ko)")
        var members = 0
        for (s, d) in oracle.sorted(by: { $0.key < $1.key }) {
            #expect(vmlinuxOnly.findType("struct " + s) == nil, "struct \(s) is in the vmlinux's BTF: not a module-only type")
            let b = try #require(btf.findType("struct " + s), "no struct \(s) in the modules' BTF")
            #expect(b.byteSize == (d["size"] as? Int).map(UInt64.init), "sizeof(struct \(s)): BTF \(String(describing: b.byteSize)), DWARF \(String(describing: d["size"]))")
            let dm = d["members"] as? [[Any]] ?? []
            let bm = b.resolved.members.map { m -> String in
                "\(m.name ?? "-") \(m.offset * 8 + (m.bitOffset ?? 0)) \(m.bitSize ?? 0)"
            }
            let expected = dm.map { "\($0[0] as? String ?? "-") \($0[1]) \($0[2])" }
            #expect(bm == expected, "struct \(s): BTF \(bm), DWARF \(expected)")
            members += bm.count
        }
        #expect(members >= 40, "\(members) members compared")
        print("module btf \(name): \(set.modules.count) modules, \(set.modules.reduce(0) { $0 + $1.file.typeCount }) types; \(oracle.count) structs, \(members) members as the modules' DWARF has them")
    }

    /// Without the vmlinux, `ptype`, `sizeof` and casts reach module types, and a cast reads the
    /// module's object: zram0's disk size, disk name and major number, as drgn reads them.
    @Test func castsToModuleTypesReadModuleObjects() throws {
        let fx = try LabFixture.load("running")
        let ko = Self.moduleDebugFiles(fx, ["zram"])
        let z = try Arm64Tests.drgnJSON(fx, """
        prog.load_debug_info(sys.argv[3:])
        from drgn import Object, sizeof
        from drgn.helpers.linux.idr import idr_for_each
        i, p = next(iter(idr_for_each(prog["zram_index_idr"])))
        z = Object(prog, "struct zram *", p.value_())
        print(json.dumps({"address": hex(p.value_()), "disksize": int(z.disksize), "disk": z.disk.disk_name.string_().decode(),
                          "major": int(z.disk.major), "size": sizeof(prog.type("struct zram"))}))
        """, extra: ko) as? [String: Any] ?? [:]
        let address = try #require(z["address"] as? String)
        let r = try runMkdbg(["--no-debuginfo", "-c", fx.elf, "-e", "p ((struct zram *)\(address))->disksize",
                              "-e", "p ((struct zram *)\(address))->disk->disk_name", "-e", "p ((struct zram *)\(address))->disk->major",
                              "-e", "p sizeof(struct zram)", "-e", "ptype struct zram", "-e", "info debuginfo"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "$1 = \(z["disksize"] ?? "?")", "\(r.out)")
        #expect(lines.count > 3 && lines[1].hasPrefix("$2 = \"\(z["disk"] ?? "?")\"") && lines[2] == "$3 = \(z["major"] ?? "?")", "\(r.out)")
        #expect(lines.contains("$4 = \(z["size"] ?? "?")"), "\(r.out)")
        #expect(lines.contains("type = struct zram {") && lines.contains("    struct zs_pool *mem_pool;"), "\(r.out)")
        #expect(lines.contains { $0.contains("modules' split BTF") }, "\(r.out)")
    }

    /// A module's split BTF: ids and names continue the base's; a name offset or type id past
    /// them is an error naming the module's blob and the offset.
    @Test func splitBtfContinuesItsBase() throws {
        func blob(_ records: [UInt8], _ strings: [UInt8]) -> [UInt8] {
            var b: [UInt8] = [0x9f, 0xeb, 1, 0]
            for v in [UInt32(24), 0, UInt32(records.count), UInt32(records.count), UInt32(strings.count)] {
                b += withUnsafeBytes(of: v.littleEndian, Array.init)
            }
            return b + records + strings
        }
        func words(_ w: [UInt32]) -> [UInt8] { w.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
        // base: 1 = int (4 bytes), names "\0int\0"
        let base = try BtfFile(bytes: blob(words([1, 1 << 24, 4, 0x0100_0020]), Array("\0int\0".utf8)), source: "base")
        let baseTypes = BtfTypes(file: base)
        // split: 2 = struct s { int a; int *p; } (name offsets 5 = "s", 7 = "a", 9 = "p"), 3 = int *
        let split = words([5, 4 << 24 | 2, 16, 7, 1, 0, 9, 3, 64, 0, 2 << 24, 1])
        let file = try BtfFile(bytes: blob(split, Array("s\0a\0p\0".utf8)), source: "module m's BTF", base: base)
        let types = try BtfTypes(module: "m", file: file, base: baseTypes)
        let s = try #require(types.findType("struct s"))
        #expect(s.byteSize == 16 && s.members.map(\.name) == ["a", "p"] && s.members.map(\.offset) == [0, 8])
        #expect(s.members.first.map { TypeFormatter.name(of: $0.type) } == "int" && s.members.last.map { TypeFormatter.name(of: $0.type) } == "int *")
        #expect(baseTypes.findType("struct s") == nil)
        baseTypes.moduleLoader = { ModuleBtfSet(modules: [types]) }
        #expect(baseTypes.findType("struct s")?.byteSize == 16 && baseTypes.findType("int")?.byteSize == 4)

        func error(_ records: [UInt8], _ strings: [UInt8] = Array("s\0".utf8)) -> String {
            do { _ = try BtfFile(bytes: blob(records, strings), source: "module m's BTF at 0x1000", base: base); return "no error" } catch { return "\(error)" }
        }
        // a member of type 9 (the last is 2)
        #expect(error(words([5, 4 << 24 | 1, 4, 0, 9, 0])) == "module m's BTF at 0x1000: bad BTF at offset 40: type 2's member 0 is type 9, but the last type is 2")
        // a name past the base's 5 and the split's 2 bytes of names
        #expect(error(words([50, 4 << 24, 4])) == "module m's BTF at 0x1000: bad BTF at offset 24: type 2's own name offset 50 is past the 7 bytes of names")
        // a string section not ending in a NUL
        #expect(error(words([5, 4 << 24, 4]), Array("s".utf8)).contains("does not end with a NUL"))
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
        // an id past the end is refused when parsed, naming the record's offset
        let dangling = record(name: 0, kind: 8, vlen: 0, sizeOrType: 2) + record(name: 0, kind: 2, vlen: 0, sizeOrType: 99)
        #expect(error(header(typeLength: UInt32(dangling.count), stringLength: 1) + dangling + [0])
                == "test.btf: bad BTF at offset 44: type 2's referenced type is type 99, but the last type is 2")
        // and so is a name past the strings
        let named = record(name: 7, kind: 8, vlen: 0, sizeOrType: 0)
        #expect(error(header(typeLength: UInt32(named.count), stringLength: 1) + named + [0]).contains("name offset 7 is past the 1 bytes of names"))
        // a pointer cycle is a type, not a trap
        let cyc = record(name: 0, kind: 8, vlen: 0, sizeOrType: 2) + record(name: 0, kind: 8, vlen: 0, sizeOrType: 1)
        let file = try BtfFile(bytes: header(typeLength: UInt32(cyc.count), stringLength: 1) + cyc + [0], source: "test.btf")
        let types = BtfTypes(file: file)
        #expect(types.type(1).resolved.kind == .typedef)  // resolved stops after 64 steps
    }
}
