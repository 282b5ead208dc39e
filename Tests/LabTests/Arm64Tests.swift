import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo
import MKKernel
import MKCommands

/// Whether the arm64 lab fixtures are there (`scripts/lab fixtures --arch arm64`); the suite
/// skips, saying so, when they are not.
private let arm64FixturesPresent = FileManager.default.fileExists(atPath: LabFixture.arm64Root + "/panicked/facts.json")
    && FileManager.default.fileExists(atPath: LabFixture.arm64Root + "/running/facts.json")

/// mkdbg on Debian's cloud-arm64 kernel, dumped by QEMU (virt, cortex-a72), or with
/// MKDBG_FIXTURES_ARM64 on another arm64 line's fixtures (`--kernel 6.12-16k`: 16 KiB pages,
/// 52-bit VA with LPA2 and pointer authentication on -cpu max): what the guest
/// printed (facts.json, console.log), the translation checked against VMCOREINFO's arithmetic
/// and the ELF's PT_LOAD, and every task's `bt` against drgn's `stack_trace`.
@Suite(.serialized, .enabled(if: arm64FixturesPresent,
                             "no arm64 fixtures in \(LabFixture.arm64Root): run scripts/lab fixtures --arch arm64"))
struct Arm64Tests {
    static func fixture(_ name: String = "panicked") throws -> LabFixture {
        try LabFixture.load(name, root: LabFixture.arm64Root)
    }

    static func facts(_ fx: LabFixture) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: fx.directory + "/facts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A VMCOREINFO number as facts.json recorded it (from the dump's note, read by labtool).
    static func vmcoreNumber(_ fx: LabFixture, _ key: String) throws -> UInt64 {
        let info = try #require(try facts(fx)["vmcoreinfo"] as? [String: String], "facts.json has no vmcoreinfo")
        let text = try #require(info[key], "facts.json's vmcoreinfo has no \(key)")
        if text.hasPrefix("0x") { return try #require(UInt64(text.dropFirst(2), radix: 16)) }
        if let v = Int64(text) { return UInt64(bitPattern: v) }
        return try #require(UInt64(text, radix: 16), "\(key)=\(text)")
    }

    static func run(_ fx: LabFixture, _ commands: [String], image: String? = nil) throws -> String {
        let r = try runMkdbg(["-c", image ?? fx.elf, "-s", fx.vmlinux] + commands.flatMap { ["-e", $0] })
        #expect(r.status == 0, "mkdbg \(commands): \(r.err)")
        return r.out
    }

    /// A function name without GCC's clone suffixes (`el0_svc_common.constprop.0`), which
    /// drgn names by the DWARF of the function it was cloned from.
    static func plain(_ name: String) -> String {
        var n = name
        while let r = n.range(of: #"\.(constprop|isra|part|cold)\.\d+$"#, options: .regularExpression) { n.removeSubrange(r) }
        return n
    }

    /// The walk's names as drgn 0.3.0 would give them: drgn has no CFI for a pc in a function's
    /// patchable entry (`mov x9, x30; nop`, before its FDE) and takes the frame record there,
    /// which is still the caller's caller's, so it drops the caller that x30 holds. mkdbg keeps
    /// that frame; it is left out here only when its pc is the entry frame's x30.
    static func drgnView(_ frames: [BacktraceFrame]) -> [String] {
        var out: [String] = []
        for (i, f) in frames.enumerated() {
            if i > 0, !f.isInline, let below = frames[..<i].last(where: { !$0.isInline }),
               let offset = below.offset, offset < 8, below.registers[Arm64Architecture.lr] == f.pc {
                continue
            }
            out.append(plain(f.function ?? "??"))
        }
        return out
    }

    // MARK: image, sys, ps, log, mod

    /// The granule Debian's flavor was built for (its release says which: "-16k"), as `info image`
    /// reports it; with PAC (KERNELPACMASK ≠ 0) the saved return addresses of the panicking task's
    /// frame records carry a code in those bits, and the walk's pcs are the addresses stripped of it.
    @Test func pageSizeAndPointerAuthentication() throws {
        let fx = try Self.fixture()
        let pageSize = fx.release.hasSuffix("-16k") ? 16384 : fx.release.hasSuffix("-64k") ? 65536 : 4096
        let out = try Self.run(fx, ["info image"])
        #expect(out.contains("page size         \(pageSize) bytes\n"), "\(out.prefix(600))")
        #expect(out.contains("\(pageSize / 1024) KiB granule"), "\(out.prefix(900))")
        let mask = try Self.vmcoreNumber(fx, "NUMBER(KERNELPACMASK)")
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let bt = try tracer.backtrace(task: try tracer.defaultTask().task)
        let pcs = Set(bt.frames.map(\.pc))
        var fp = try #require(bt.frames.first?.registers[Arm64Architecture.fp])
        var signed = 0
        for _ in 0..<8 where fp != 0 {
            let lr = try kernel.readU64(fp &+ 8)
            if lr & mask != mask { signed += 1 }
            #expect(pcs.contains(Arm64Architecture.strippingPointerAuthentication(lr, mask: mask)), "saved lr \(hex(lr)) at \(hex(fp &+ 8))")
            fp = try kernel.readU64(fp)
        }
        // The lab's cortex-a72 has no PAC (mask 0); -cpu max signs every non-leaf function's lr.
        #expect(mask == 0 ? signed == 0 : signed == 8, "\(signed) of 8 saved return addresses signed, KERNELPACMASK \(hex(mask))")
    }

    @Test(arguments: ["running", "panicked"])
    func sysNamesReleaseAndArchitecture(_ name: String) throws {
        let fx = try Self.fixture(name)
        for image in [fx.elf, fx.kdump, fx.kdumpFlat] {
            let out = try Self.run(fx, ["sys", "info image"], image: image)
            #expect(out.contains("release       \(fx.release)\n"), "\(image): \(out.prefix(400))")
            #expect(out.contains("machine       aarch64\n"))
            #expect(out.contains("architecture      arm64\n"), "info image names arm64")
            #expect(out.contains("kimage_voffset    \(hex(try Self.vmcoreNumber(fx, "NUMBER(kimage_voffset)")))"))
        }
    }

    /// Every process the guest's init started is in `ps` with the PID it printed, its parent init.
    @Test(arguments: ["running", "panicked"])
    func psListsTheGuestsProcesses(_ name: String) throws {
        let fx = try Self.fixture(name)
        let pids = try #require(try Self.facts(fx)["pids"] as? [String: Int])
        #expect(!fx.processes.isEmpty)
        let out = try Self.run(fx, ["ps"])
        for comm in fx.processes {
            let pid = try #require(pids[comm])
            let line = out.split(separator: "\n").first { $0.hasSuffix("  " + comm) && $0.contains(" \(pid) ") }
            #expect(line != nil, "ps has no \(comm) with PID \(pid)")
            if let line {
                let fields = line.split(separator: " ").filter { $0 != ">" }
                #expect(fields.first == Substring("\(pid)") && fields.dropFirst().first == "1", "\(line)")
            }
        }
        if name == "panicked" {
            let panicker = try #require(pids["mk-panicker"])
            #expect(out.split(separator: "\n").contains { $0.hasPrefix(">") && $0.contains(" \(panicker) ") && $0.hasSuffix("mk-panicker") },
                    "the panicking task is marked active")
        }
    }

    /// The log holds the marker, and the panic's lines exactly as the console printed them.
    @Test func logHasTheMarkerAndThePanic() throws {
        let fx = try Self.fixture()
        let console = try String(contentsOfFile: fx.directory + "/console.log", encoding: .utf8)
        // The serial console ends lines with CR LF (one Character in Swift): drop the CRs first.
        let panicLines = console.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
            .filter { $0.contains("Kernel panic - not syncing") }
        #expect(panicLines.count == 2, "the panic line and its end line: \(panicLines)")
        let out = try Self.run(fx, ["log"])
        #expect(out.contains(fx.marker))
        for line in panicLines { #expect(out.contains(line + "\n"), "log lacks \(line)") }
        let sys = try Self.run(fx, ["sys"])
        #expect(sys.contains("panic         \"Kernel panic - not syncing: sysrq triggered crash\""))
        let pid = try #require((try Self.facts(fx)["pids"] as? [String: Int])?["mk-panicker"])
        #expect(sys.contains("panic task    PID \(pid) \"mk-panicker\""))
    }

    /// The module the guest loaded, at an address inside arm64's module range.
    @Test func modListsQemuFwCfg() throws {
        let fx = try Self.fixture()
        let out = try Self.run(fx, ["mod"])
        let line = try #require(out.split(separator: "\n").first { $0.contains(" qemu_fw_cfg ") }, "\(out)")
        let base = try #require(UInt64(line.split(separator: " ")[2], radix: 16))
        let start = try Self.vmcoreNumber(fx, "NUMBER(MODULES_VADDR)"), end = try Self.vmcoreNumber(fx, "NUMBER(MODULES_END)")
        let kaslr = try Self.vmcoreNumber(fx, "KERNELOFFSET")
        // With KASLR the modules sit within 2 GiB of the kernel: in the module range or the image's neighbourhood.
        #expect((base >= start && base < end) || base &- (end &+ kaslr) < 1 << 31 || (end &+ kaslr) &- base < 1 << 31, "\(hex(base))")
    }

    // MARK: without the vmlinux

    /// Debian's cloud-arm64 kallsyms has text symbols only (no CONFIG_KALLSYMS_ALL). Without the
    /// vmlinux mkdbg finds the .BTF by a scan, takes VMCOREINFO's SYMBOL()s, and finds init_task,
    /// the modules list and the per-CPU offsets in memory: each where the vmlinux (nm, relocated by
    /// KERNELOFFSET) and drgn (`__per_cpu_offset`, `__per_cpu_start`) say they are.
    @Test(arguments: ["running", "panicked"]) func withoutDebugInfoDerivedSymbolsAreTheVmlinuxs(_ name: String) throws {
        let fx = try Self.fixture(name)
        var options = Target.Options()
        options.noDebugInfo = true
        let t = try Target(imagePath: fx.elf, options: options)
        let symbols = try t.requireSymbols()
        // cloud-arm64 6.1 has no CONFIG_KALLSYMS_ALL; Debian's generic arm64 flavors (6.12-16k) have it.
        let lacks = t.lacksDataSymbols
        #expect(lacks == (symbols.lookup("jiffies") == nil), "lacksDataSymbols \(lacks), but jiffies is \(symbols.lookup("jiffies") == nil ? "missing" : "there")")
        _ = try Session(target: t).kernel()  // the helpers derive what kallsyms lacks
        let kaslr = try Self.vmcoreNumber(fx, "KERNELOFFSET")
        let nm = try DisassemblyTests.tool("nm", [fx.vmlinux]).split(separator: "\n")
        func linked(_ symbol: String) throws -> UInt64 {
            let line = try #require(nm.first { $0.hasSuffix(" " + symbol) && $0.split(separator: " ").count == 3 }, "nm has no \(symbol)")
            return try #require(UInt64(line.prefix { $0 != " " }, radix: 16))
        }
        for s in ["__start_BTF", "init_task", "modules", "init_uts_ns", "prb"] {
            let expected = try linked(s) &+ kaslr
            guard lacks else {
                // With data symbols in kallsyms nothing is derived: kallsyms has them where the vmlinux does.
                #expect(symbols.lookup(s)?.address == expected, "\(s): kallsyms \(symbols.lookup(s).map { hex($0.address) } ?? "none"), vmlinux \(hex(expected))")
                continue
            }
            let derived = try #require(symbols.derived[s], "\(s) was not derived")
            #expect(derived.symbol.address == expected, "\(s): derived \(hex(derived.symbol.address)) (\(derived.how)), vmlinux \(hex(expected))")
        }
        guard lacks else { return }
        let drgn = try Self.drgnJSON(fx, """
        print(json.dumps({"offsets": [hex(prog["__per_cpu_offset"][i].value_()) for i in range(int(prog["nr_cpu_ids"]))],
                          "start": hex(prog.symbol("__per_cpu_start").address)}))
        """) as? [String: Any]
        let hexes = try #require(drgn?["offsets"] as? [String])
        let offsets = hexes.compactMap { UInt64($0.dropFirst(2), radix: 16) }
        let startText = try #require(drgn?["start"] as? String)
        let start = try #require(UInt64(startText.dropFirst(2), radix: 16))
        // mkdbg puts the section at 0, as x86-64 links it: its offsets are the kernel's plus __per_cpu_start.
        #expect(t.derivedPerCPUOffsets == offsets.map { $0 &+ start }, "derived \(String(describing: t.derivedPerCPUOffsets)), drgn \(offsets) + \(hex(start))")
        #expect(offsets.count == 2)
    }

    /// Without the vmlinux: sys (release), log (the marker, the panic), ps and mod as with the
    /// vmlinux, bt of the panicking task through sysrq_handle_crash by frame records; what cannot
    /// work says why, naming CONFIG_KALLSYMS_ALL.
    @Test(arguments: ["running", "panicked"]) func withoutDebugInfoHelpersWork(_ name: String) throws {
        let fx = try Self.fixture(name)
        func mkdbg(_ bare: Bool, _ commands: [String]) throws -> (out: String, err: String) {
            let r = try runMkdbg((bare ? ["--no-debuginfo"] : ["-s", fx.vmlinux]) + ["-c", fx.elf] + commands.flatMap { ["-e", $0] })
            #expect(r.status == 0, "\(commands): \(r.err)")
            return (r.out, r.err)
        }
        var options = Target.Options()
        options.noDebugInfo = true
        let lacks = try Target(imagePath: fx.elf, options: options).lacksDataSymbols
        /// `sys`'s value for a key (its column width depends on the longest key printed).
        func field(_ out: String, _ key: String) -> String? {
            out.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map { $0.dropFirst(key.count).trimmingCharacters(in: .whitespaces) }
        }
        let sys = try mkdbg(true, ["sys"])
        // The CPUs as the vmlinux's DWARF reads them (a panic may have taken CPU 1 offline); without
        // the online mask (a data symbol) only the possible ones are known, and sys says so.
        let cpus = field(try mkdbg(false, ["sys"]).out, "cpus")
        #expect(field(sys.out, "release") == fx.release && cpus?.contains("2 possible") == true, "\(sys.out)")
        #expect(field(sys.out, "cpus") == (lacks ? "online unknown, 2 possible (nr_cpu_ids 2)" : cpus), "\(sys.out)")
        if lacks {
            #expect(sys.out.contains("uptime: no symbol \"jiffies\" in the kernel's debug info (kallsyms has text symbols only: the kernel was built without CONFIG_KALLSYMS_ALL"),
                    "uptime's missing jiffies is reported, and why: \(sys.out)")
        }
        let log = try mkdbg(true, ["log"])
        #expect(log.out.contains(fx.marker), "marker")
        for command in ["ps", "mod", "per_cpu runqueues.nr_running", "p ((struct task_struct *)&init_task)->comm"] {
            let a = try mkdbg(false, [command]).out, b = try mkdbg(true, [command]).out
            #expect(a == b, "\(command) with the vmlinux:\n\(a.prefix(600))\nwithout:\n\(b.prefix(600))")
        }
        let ps = try mkdbg(true, ["ps"]).out
        for comm in fx.processes { #expect(ps.contains(comm), "ps lacks \(comm)") }
        #expect(ps.contains("swapper/1"), "CPU 1's idle task, from its runqueue")
        let info = try mkdbg(true, ["info debuginfo"]).out
        #expect(!lacks || (info.contains("CONFIG_KALLSYMS_ALL") && info.contains("derived symbols")), "\(info)")
        #expect(info.contains("frame records"), "\(info)")
        guard name == "panicked" else { return }
        #expect(field(sys.out, "panic") == "\"Kernel panic - not syncing: sysrq triggered crash\"", "\(sys.out)")
        let pid = try #require((try Self.facts(fx)["pids"] as? [String: Int])?["mk-panicker"])
        #expect(field(sys.out, "panic task")?.hasPrefix("PID \(pid) \"mk-panicker\"") == true, "\(sys.out)")
        // bt: frame records (and x30 for the leaf the panic interrupt stopped in) name the same
        // out-of-line functions as DWARF's CFI walk.
        func functions(_ out: String) -> [String] {
            out.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("#"), !line.contains("(inlined)"), let r = line.range(of: " in ") else { return nil }
                return String(line[r.upperBound...].split(separator: "+").first ?? "").split(separator: " ").first.map { Self.plain(String($0)) }
            }
        }
        let with = functions(try mkdbg(false, ["bt"]).out), without = functions(try mkdbg(true, ["bt"]).out)
        #expect(without == with && without.contains("sysrq_handle_crash") && without.contains("el0t_64_sync"), "without \(without), with \(with)")
        // and every CPU's active task (CPU 0 stopped by the panic's IPI)
        let all = try mkdbg(false, ["bt -a"]).out, allBare = try mkdbg(true, ["bt -a"]).out
        #expect(functions(all) == functions(allBare) && functions(all).count > with.count, "with \(functions(all)), without \(functions(allBare))")
    }

    // MARK: translation

    /// The kernel image map: the page-table walk of a text and a data symbol gives the same
    /// physical address as `va − kimage_voffset`, and the ELF's PT_LOAD holds `linux_banner` there.
    @Test func imageAddressesWalkToKimageVoffset() throws {
        let fx = try Self.fixture()
        let target = try fx.target()
        let voffset = try Self.vmcoreNumber(fx, "NUMBER(kimage_voffset)")
        let walker = try target.memory.pageTableWalker()
        // _end − 8: the last word of the image (.bss), past where the map ends before `_end` is known.
        for name in ["linux_banner", "init_task", "panic", "swapper_pg_dir", "_end"] {
            let va = try target.requireSymbols().require(name).address &- (name == "_end" ? 8 : 0)
            let walked = try walker.translate(va)
            #expect(walked.physical == va &- voffset, "\(name) \(hex(va)): walk \(hex(walked.physical))")
            #expect(walked.steps.count == 4 || walked.pageSize > 4096, "4-level tables with 4 KiB pages: \(walked.steps.map(\.level))")
            let translated = try target.memory.translate(va)
            #expect(translated.physical == walked.physical && translated.method == .kernelText, "\(name)")
        }
        // linux_banner's bytes, read from the file at PT_LOAD's offset for that physical address.
        let banner = try target.requireSymbols().require("linux_banner").address &- voffset
        let elf = try ElfCore(path: fx.elf)
        let load = try #require(elf.programHeaders.first { $0.type == ProgramHeader.ptLoad && banner >= $0.physicalAddress
            && banner - $0.physicalAddress < $0.fileSize })
        let file = try #require(FileHandle(forReadingAtPath: fx.elf))
        try file.seek(toOffset: load.offset + (banner - load.physicalAddress))
        let text = String(decoding: try #require(try file.read(upToCount: 64)), as: UTF8.self)
        #expect(text.hasPrefix("Linux version \(fx.release) "), "\(text)")
    }

    /// The linear map: a task_struct's address walks to `(va − PAGE_OFFSET) + PHYS_OFFSET`, and
    /// its `comm` read through the walk is the process's name.
    @Test func linearMapAddressesWalkToPhysOffset() throws {
        let fx = try Self.fixture()
        let kernel = try Session(target: try fx.target()).kernel()
        let vaBits = try Self.vmcoreNumber(fx, "NUMBER(VA_BITS)")
        let physOffset = try Self.vmcoreNumber(fx, "NUMBER(PHYS_OFFSET)")
        let pageOffset = 0 &- (UInt64(1) << vaBits)
        let walker = try kernel.memory.pageTableWalker()
        let commOffset = try kernel.offset(of: "comm", in: try kernel.type("struct task_struct"))
        let pids = try #require(try Self.facts(fx)["pids"] as? [String: Int])
        let tracer = try Backtracer(kernel: kernel)
        for (comm, pid) in pids {
            let task = try tracer.task(pid: Int64(pid))
            #expect(task >= pageOffset && task < 0 &- (UInt64(1) << (vaBits - 1)), "\(comm): \(hex(task)) is a linear-map address")
            let walked = try walker.translate(task &+ commOffset)
            #expect(walked.physical == (task &+ commOffset &- pageOffset) &+ physOffset, "\(comm)")
            let bytes = try kernel.memory.readPhysical(walked.physical, count: comm.utf8.count + 1)
            #expect(bytes == Array(comm.utf8) + [0], "\(comm): comm through the walk")
        }
    }

    /// A vmalloc'd kernel stack (no linear formula): its lowest word is STACK_END_MAGIC.
    @Test func vmallocStacksWalk() throws {
        let fx = try Self.fixture("running")
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let pid = try #require((try Self.facts(fx)["pids"] as? [String: Int])?["mk-sleeper"])
        let task = kernel.object(try kernel.type("struct task_struct"), at: try tracer.task(pid: Int64(pid)))
        let stack = try task["stack"].unsigned()
        let vmallocStart = try Self.vmcoreNumber(fx, "NUMBER(VMALLOC_START)")
        let vmallocEnd = try Self.vmcoreNumber(fx, "NUMBER(VMALLOC_END)")
        #expect(stack >= vmallocStart && stack < vmallocEnd)
        let t = try kernel.memory.translate(stack)
        #expect(t.method == .pageTables)
        let word = try kernel.memory.readPhysical(t.physical, count: 4)
        #expect(word == [0x9d, 0x6e, 0xac, 0x57], "STACK_END_MAGIC 0x57ac6e9d")
    }

    // MARK: bt

    /// What drgn says of a task: its `stack_trace`'s function names (nil names as "??") and, for
    /// a process, the user pc and sp its entry saved (`struct pt_regs` at the top of its stack).
    struct DrgnTask {
        var names: [String]
        var user: (pc: UInt64, sp: UInt64)?
    }

    /// What a drgn script (given `prog`) prints as JSON on the fixture's ELF dump.
    static func drgnJSON(_ fx: LabFixture, _ body: String, extra: [String] = []) throws -> Any {
        let script = """
        import drgn, json, sys
        prog = drgn.Program(); prog.set_core_dump(sys.argv[1]); prog.load_debug_info([sys.argv[2]])

        """ + body
        let r = try runProgram(try drgnPython(), ["-c", script, fx.elf, fx.vmlinux] + extra)
        guard r.status == 0 else { throw FixtureError("drgn on \(fx.elf): \(String(decoding: r.err, as: UTF8.self))") }
        return try JSONSerialization.jsonObject(with: r.out)
    }

    /// drgn's view of every task, by PID.
    static func drgnTasks(_ fx: LabFixture) throws -> [String: DrgnTask] {
        let raw = try drgnJSON(fx, """
        from drgn import Object
        from drgn.helpers.linux.pid import for_each_task
        out = {}
        for t in for_each_task(prog):
            d = {"names": [f.name or "??" for f in prog.stack_trace(t)]}
            if t.mm:
                # THREAD_SIZE: the stack's vmalloc area less its guard page
                size = t.stack_vm_area.size.value_() - prog["PAGE_SIZE"].value_()
                regs = Object(prog, "struct pt_regs", address=t.stack.value_() + size - prog.type("struct pt_regs").size)
                d["pc"], d["sp"] = regs.pc.value_(), regs.sp.value_()
            out[str(t.pid.value_())] = d
        print(json.dumps(out))
        """)
        let json = try #require(raw as? [String: [String: Any]])
        return json.mapValues { d in
            let user = (d["pc"] as? NSNumber).flatMap { pc in (d["sp"] as? NSNumber).map { (pc.uint64Value, $0.uint64Value) } }
            return DrgnTask(names: d["names"] as? [String] ?? [], user: user)
        }
    }

    /// The panicking task: its CPU's NT_PRSTATUS registers, through panic() and
    /// sysrq_handle_crash to the syscall entry; the same functions as drgn.
    @Test func panickingTaskMatchesDrgn() throws {
        let fx = try Self.fixture()
        let pid = try #require((try Self.facts(fx)["pids"] as? [String: Int])?["mk-panicker"])
        let drgn = try #require(try Self.drgnTasks(fx)["\(pid)"]).names
        let r = try runMkdbg(["--json", "-c", fx.elf, "-s", fx.vmlinux, "-e", "bt"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.err)")
        #expect(json["pid"] as? Int == pid)
        #expect(json["active"] as? Bool == true)
        let frames = try #require(json["frames"] as? [[String: Any]])
        let names = frames.map { Self.plain($0["function"] as? String ?? "??") }
        for wanted in ["panic", "sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "el0t_64_sync"] {
            #expect(names.contains(wanted), "bt lacks \(wanted)")
        }
        #expect(frames.first?["method"] as? String == "start")
        // The same walk in process, against drgn (see drgnView).
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let bt = try tracer.backtrace(task: try tracer.defaultTask().task)
        #expect(bt.frames.map { Self.plain($0.function ?? "??") } == names)
        #expect(Self.drgnView(bt.frames) == drgn, "mkdbg \(names)\ndrgn  \(drgn)")
    }

    /// Every task of both dumps (sleeping ones from thread.cpu_context, the idle and running
    /// ones from their CPU's note): the same functions as drgn's stack_trace; a process's walk
    /// ends in the pt_regs its entry from user mode saved, at the user pc and sp drgn reads there.
    @Test(arguments: ["running", "panicked"])
    func everyTaskMatchesDrgn(_ name: String) throws {
        let fx = try Self.fixture(name)
        let drgn = try Self.drgnTasks(fx)
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let tasks = try kernel.tasks(budget: WalkBudget()).tasks
        // drgn's for_each_task leaves out the idle tasks (PID 0), one per CPU.
        #expect(tasks.filter { $0.pid != 0 }.count == drgn.count, "drgn walks \(drgn.count) tasks")
        var compared = 0, users = 0
        for t in tasks where t.pid != 0 {
            let bt = try tracer.backtrace(task: t.address)
            let mine = Self.drgnView(bt.frames)
            let theirs = try #require(drgn["\(t.pid)"], "drgn has no PID \(t.pid)")
            #expect(mine == theirs.names, "PID \(t.pid) \(bt.comm ?? ""): mkdbg \(mine)\ndrgn \(theirs.names)")
            #expect(!mine.isEmpty)
            if let user = theirs.user {
                #expect(bt.notes.last == "entered the kernel from user mode: ip \(hex(user.pc)), sp \(hex(user.sp))",
                        "PID \(t.pid): \(bt.notes)")
                users += 1
            }
            compared += 1
        }
        #expect(compared >= 40 && users >= fx.processes.count)
    }

    /// The CPU the panic stopped took the IPI in its idle loop: its walk goes from the handler on
    /// the CPU's IRQ stack (drgn's irq_stack_ptr) through call_on_irq_stack to the idle task's
    /// stack, into the el1 exception's pt_regs and on through the idle loop, naming the functions
    /// drgn names for an idle CPU of the running dump after cpu_do_idle. (drgn itself cannot
    /// unwind this CPU: "stack pointer is not known".)
    @Test func stoppedCpuCrossesTheIrqStackAndTheException() throws {
        let fx = try Self.fixture()
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let cpu = 1 - (try #require(tracer.panicCPU()))
        let stacks = try #require(try Self.drgnJSON(fx, """
            from drgn.helpers.linux.percpu import per_cpu
            from drgn.helpers.linux.sched import idle_task
            print(json.dumps({"irq": per_cpu(prog["irq_stack_ptr"], \(cpu)).value_(), "idle": idle_task(prog, \(cpu)).stack.value_()}))
            """) as? [String: NSNumber])
        let irq = try #require(stacks["irq"]).uint64Value, idle = try #require(stacks["idle"]).uint64Value
        let running = try #require(try Self.drgnJSON(try Self.fixture("running"), """
            from drgn.helpers.linux.sched import idle_task
            print(json.dumps([f.name for f in prog.stack_trace(idle_task(prog, \(cpu)))]))
            """) as? [String])
        let bt = try tracer.backtrace(task: try kernel.currentTask(cpu: cpu))
        #expect(bt.active)
        #expect(bt.comm == "swapper/\(cpu)")
        let names = bt.frames.map { Self.plain($0.function ?? "??") }
        let switchAt = try #require(names.firstIndex(of: "call_on_irq_stack"), "\(names)")
        let exception = try #require(bt.frames.firstIndex { $0.method == "pt_regs" }, "\(names)")
        #expect(names[exception - 1] == "el1h_64_irq" && names.prefix(switchAt).contains("ipi_handler"), "\(names)")
        for f in bt.frames[...switchAt] { #expect(f.sp >= irq && f.sp - irq <= 16384, "frame \(f.index) sp \(hex(f.sp)) on the IRQ stack") }
        for f in bt.frames[(switchAt + 1)...] { #expect(f.sp >= idle && f.sp - idle < 16384, "frame \(f.index) sp \(hex(f.sp)) on the idle stack") }
        let after = try #require(running.firstIndex(of: "cpu_do_idle"), "\(running)")
        // The IRQ is taken where the idle loop unmasks interrupts after wfi: in arch_cpu_idle on
        // 6.1, in default_idle_call (after arch_cpu_idle returned) on 6.12.
        let idleFrames = Array(running[(after + 1)...]), mine = Array(names[exception...])
        #expect(mine == idleFrames || (idleFrames.first == "arch_cpu_idle" && mine == Array(idleFrames.dropFirst()) && mine.first == "default_idle_call"),
                "mkdbg \(mine)\ndrgn (running) \(running)")
        let unreliable = bt.frames.filter { !$0.reliable }.map(\.index)
        #expect(unreliable.isEmpty, "unreliable frames \(unreliable)")
    }

    /// Each real frame's symbol and offset name the same address the vmlinux's symbol table
    /// (nm) gives for that symbol.
    @Test func frameSymbolsAgreeWithNm() throws {
        let fx = try Self.fixture()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        p.arguments = [fx.vmlinux]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        var nm: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 3, let a = UInt64(f[0], radix: 16) { nm[String(f[2])] = nm[String(f[2])] ?? a }
        }
        let kaslr = try Self.vmcoreNumber(fx, "KERNELOFFSET")
        let kernel = try Session(target: try fx.target()).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let bt = try tracer.backtrace(task: try tracer.defaultTask().task)
        var checked = 0
        for f in bt.frames where !f.isInline {
            let symbol = try #require(f.symbol), offset = try #require(f.offset)
            let link = try #require(nm[symbol], "nm has no \(symbol)")
            #expect(link &+ kaslr &+ offset == f.pc, "\(symbol)+\(hex(offset))")
            checked += 1
        }
        #expect(checked >= 15)
    }
}

/// Pointer authentication, which the lab's cortex-a72 lacks (its KERNELPACMASK is 0): the
/// mask a 48-bit kernel with PAC writes, on signed kernel and user return addresses.
@Suite struct Arm64PointerAuthenticationTests {
    @Test func signedReturnAddressesLoseTheirCode() {
        let mask: UInt64 = 0xff7f_0000_0000_0000 // bits 63–56 and 54–48: all but bit 55 above VA_BITS
        #expect(Arm64Architecture.strippingPointerAuthentication(0x8a3f_c5e4_3d5d_5c64 | 1 << 55, mask: mask) == 0xffff_c5e4_3d5d_5c64)
        #expect(Arm64Architecture.strippingPointerAuthentication(0x2a15_0000_0044_a7cc, mask: mask) == 0x0000_0000_0044_a7cc)
        #expect(Arm64Architecture.strippingPointerAuthentication(0xffff_c5e4_3d5d_5c64, mask: 0) == 0xffff_c5e4_3d5d_5c64)
    }
}
