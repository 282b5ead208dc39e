import Testing
import Foundation
import MKFormat
import MKDebugInfo
import MKKernel
import MKCommands

/// The arm64 kernel as a multikernel instance (`scripts/lab mk-arm64`): a `--root` whose one
/// instance, `arm`, has the debug interface's kcore (EM_AARCH64) over the running arm64 dump's
/// RAM, and inbox rings the lab's traffic left as its traffic.json says. In Arm64Tests's suite:
/// it needs the same fixtures and nothing live.
extension Arm64Tests {
    struct ArmInstance {
        let root: String
        let fixture: LabFixture
        let facts: [String: Any]
        let traffic: [String: Any]
        /// The directory's lab.json.
        let lab: [String: Any]

        func mkdbg(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            try runMkdbg(["--root", root] + args)
        }

        /// Commands on the instance (`--instance arm`); fails the test on a non-zero exit.
        func run(_ commands: [String]) throws -> String {
            let r = try mkdbg(["--instance", "arm"] + commands.flatMap { ["-e", $0] })
            #expect(r.status == 0, "mkdbg \(commands): \(r.err)")
            return r.out
        }

        func json(_ args: [String]) throws -> [String: Any] {
            let r = try mkdbg(["--json"] + args)
            #expect(r.status == 0, "mkdbg \(args): \(r.err)")
            let line = try #require(r.out.split(separator: "\n").first)
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    /// Built once per test process (the lab keeps the directory while the dump is the same).
    nonisolated(unsafe) static var builtInstance: ArmInstance?
    nonisolated(unsafe) static var builtFallback: ArmInstance?
    nonisolated(unsafe) static var builtCrashNotes: ArmInstance?

    /// `fallback`: today's upstream (`--fallback`); `crashNotes`: with the CPUs' crash notes saved.
    static func armInstance(fallback: Bool = false, crashNotes: Bool = false) throws -> ArmInstance {
        if let built = crashNotes ? builtCrashNotes : fallback ? builtFallback : builtInstance { return built }
        let fx = try fixture("running")
        let r = try runProgram(LabFixture.projectRoot + "/scripts/lab",
                               ["mk-arm64", "--fixture", fx.directory] + (fallback || crashNotes ? ["--fallback"] : [])
                                   + (crashNotes ? ["--crash-notes"] : []))
        guard r.status == 0, let root = String(decoding: r.out, as: UTF8.self).split(separator: "\n").last.map(String.init) else {
            throw FixtureError("scripts/lab mk-arm64 failed: \(String(decoding: r.err, as: UTF8.self))")
        }
        let data = try #require(FileManager.default.contents(atPath: root + "/traffic.json"))
        let traffic = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let labData = try #require(FileManager.default.contents(atPath: root + "/lab.json"))
        let labJSON = try #require(try JSONSerialization.jsonObject(with: labData) as? [String: Any])
        let built = ArmInstance(root: root, fixture: fx, facts: try facts(fx), traffic: traffic, lab: labJSON)
        if crashNotes { builtCrashNotes = built } else if fallback { builtFallback = built } else { builtInstance = built }
        return built
    }

    // MARK: the instance

    /// `instances` lists arm with the lab's CPUs and region and names its architecture from the
    /// kcore; `instance arm` opens it and says what it is.
    @Test func armInstanceIsListedAsArm64() throws {
        let lab = try Self.armInstance()
        let json = try lab.json(["-e", "instances"])
        let list = try #require(json["instances"] as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["arm"])
        let arm = try #require(list.first)
        #expect(arm["arch"] as? String == "arm64")
        #expect(arm["status"] as? String == "loaded")
        #expect((arm["cpus"] as? [NSNumber])?.map { $0.intValue } == [2, 3])
        #expect((arm["memory_bytes"] as? NSNumber)?.uint64Value == 0x2000_0000)
        #expect((arm["kernel_cmdline"] as? String)?.contains(lab.facts["token"] as? String ?? "?") == true)
        let text = try lab.mkdbg(["-e", "instances", "-e", "instance arm"])
        #expect(text.status == 0, "\(text.err)")
        #expect(text.out.contains("arm   1   loaded  -       2-3   512 MiB  -        arm64  multikernel"), "\(text.out)")
        #expect(text.out.contains("instance arm: \(lab.fixture.release) (arm64), symbols from "), "\(text.out)")
    }

    /// Release, uname, marker and the guest's processes, read through the kcore: the kernel's
    /// memory, not the lab's files.
    @Test func armInstanceReadsTheGuestsKernel() throws {
        let lab = try Self.armInstance()
        let out = try lab.run(["sys", "log", "ps"])
        #expect(out.contains("release       \(lab.fixture.release)\n"))
        #expect(out.contains("machine       aarch64\n"))
        if let uname = lab.facts["uname"] as? String, let version = uname.split(separator: " ", maxSplits: 1).last {
            #expect(out.contains("version       \(version)\n"), "uname \(uname)")
        }
        #expect(out.contains(lab.fixture.marker))
        let pids = try #require(lab.facts["pids"] as? [String: Int])
        #expect(pids.count == lab.fixture.processes.count && !pids.isEmpty)
        for (comm, pid) in pids {
            let row = out.split(separator: "\n").first { $0.hasSuffix("  " + comm) && $0.split(separator: " ").first == Substring("\(pid)") }
            #expect(row != nil, "ps has no \(comm) with PID \(pid)")
        }
    }

    /// The layout comes from the kcore's VMCOREINFO note: KASLR and kimage_voffset as the
    /// guest's VMCOREINFO said (facts.json), and the kcore is the debug interface's.
    @Test func armInstanceLayoutFromTheKcoreNote() throws {
        let lab = try Self.armInstance()
        let out = try lab.run(["info image"])
        let kaslr = try #require(lab.facts["kernel_offset"] as? NSNumber).uint64Value
        #expect(out.contains("KASLR offset      \(hex(kaslr))\n"), "\(out)")
        #expect(out.contains("kimage_voffset    \(hex(try Self.vmcoreNumber(lab.fixture, "NUMBER(kimage_voffset)")))"))
        #expect(out.contains("architecture      arm64\n"))
        let core = try ElfCore(path: lab.root + "/sys/fs/multikernel/instances/arm/kcore")
        #expect(core.header.machine == ElfHeader.emAarch64)
        #expect(core.programHeaders.first?.type == ProgramHeader.ptNote)
        #expect(core.notes.map(\.name) == ["VMCOREINFO"])
        #expect(core.style == .vmcore && core.virtualRanges.isEmpty, "p_vaddr 0: the spawn's virtual layout is VMCOREINFO's")
        #expect(core.physicalRanges.map(\.start) == [0x4000_0000, 0x1_8000_0000, 0x1_8008_0000, 0x1_8020_0000])
    }

    /// Every process the guest started: `bt` through the kcore (the image InstanceOpener opens)
    /// names the functions drgn's stack_trace names on the original dump, and ends at the user
    /// pc and sp drgn reads from its pt_regs.
    @Test func armInstanceBacktracesMatchDrgnOnTheDump() throws {
        let lab = try Self.armInstance()
        let drgn = try Self.drgnTasks(lab.fixture)
        let pids = try #require(lab.facts["pids"] as? [String: Int])
        let target = try Target(imagePath: lab.root + "/sys/fs/multikernel/instances/arm/kcore",
                                options: .init(vmlinuxPath: lab.fixture.vmlinux))
        let kernel = try Session(target: target).kernel()
        let tracer = try Backtracer(kernel: kernel)
        let tasks = try kernel.tasks(budget: WalkBudget()).tasks
        for (comm, pid) in pids.sorted(by: { $0.value < $1.value }) {
            let task = try #require(tasks.first { $0.pid == pid }, "no PID \(pid) (\(comm)) in the instance's task list")
            let bt = try tracer.backtrace(task: task.address)
            #expect(bt.comm == comm)
            let theirs = try #require(drgn["\(pid)"], "drgn has no PID \(pid)")
            #expect(Self.drgnView(bt.frames) == theirs.names, "\(comm): mkdbg \(Self.drgnView(bt.frames))\ndrgn  \(theirs.names)")
            if let user = theirs.user {
                #expect(bt.notes.last == "entered the kernel from user mode: ip \(hex(user.pc)), sp \(hex(user.sp))", "\(comm): \(bt.notes)")
            }
        }
        // The command line says the same for one of them.
        let sleeper = try #require(pids["mk-sleeper"])
        let json = try lab.json(["--instance", "arm", "-e", "bt \(sleeper)"])
        #expect(json["pid"] as? Int == sleeper && json["comm"] as? String == "mk-sleeper", "\(json)")
        let names = (json["frames"] as? [[String: Any]] ?? []).map { Self.plain($0["function"] as? String ?? "??") }
        let sleeperTask = try #require(tasks.first { $0.pid == sleeper })
        let inProcess = try tracer.backtrace(task: sleeperTask.address).frames.map { Self.plain($0.function ?? "??") }
        #expect(names == inProcess, "bt \(sleeper): \(names)")
    }

    /// `channels` reads the host's inbox and arm's through arm's kcore: every pending slot as
    /// the lab's traffic left it (traffic.json), decoded with the newest layout.
    @Test func armInstanceChannelsShowTheRings() throws {
        let lab = try Self.armInstance()
        let rings = try #require(lab.traffic["rings"] as? [[String: Any]])
        #expect(rings.map { $0["name"] as? String } == ["host", "arm"])
        let json = try lab.json(["-e", "channels"])
        #expect(json["ok"] as? Bool == true, "\(json)")
        let channels = try #require(json["channels"] as? [[String: Any]])
        #expect(channels.map { $0["name"] as? String } == ["host", "arm"])
        var texts: [String] = []
        for ring in rings {
            let name = ring["name"] as? String ?? "?"
            let c = try #require(channels.first { $0["name"] as? String == name })
            #expect(c["phys"] as? String == "0x" + (ring["phys_hex"] as? String ?? "?"))
            #expect((c["read_through"] as? String)?.hasPrefix("arm's kcore") == true, "\(c["read_through"] ?? "")")
            #expect(c["live"] as? Bool == false)
            #expect((c["head"] as? NSNumber)?.intValue == (ring["head"] as? NSNumber)?.intValue)
            #expect((c["tail"] as? NSNumber)?.intValue == (ring["tail"] as? NSNumber)?.intValue)
            #expect((c["pending"] as? NSNumber)?.intValue == (ring["pending_count"] as? NSNumber)?.intValue)
            #expect((c["problems"] as? [Any])?.isEmpty == true, "\(name): \(c["problems"] ?? "")")
            let expected = try #require(ring["pending"] as? [[String: Any]])
            let slots = try #require(c["slots"] as? [[String: Any]])
            #expect(slots.count == expected.count && expected.count >= 2, "\(name): \(slots.count) slots, traffic.json has \(expected.count)")
            for (t, m) in zip(expected, slots) {
                ChannelsTests.expectSameSlot(t, m, ring: name)
                if let text = (t["message"] as? [String: Any])?["text"] as? String { texts.append(text) }
            }
        }
        // The spawn's console output names it: the senders are arm's CPUs (2, 3).
        #expect(texts.contains { $0.hasPrefix("arm console: ") }, "\(texts)")
        let text = try lab.mkdbg(["-e", "channels host"])
        #expect(text.out.contains("(arm)"), "\(text.out)")
    }

    // MARK: today's upstream: no debug files, the host's /proc/kcore

    /// Without the instance's kcore, mkdbg reads arm's region (proc/iomem) through an arm64
    /// host's /proc/kcore (virtual PT_LOADs, the host's own VMCOREINFO), finds the spawn's
    /// VMCOREINFO by scanning, and reads the spawn's kernel with the spawn's layout.
    @Test func armFallbackThroughAnArm64HostKcore() throws {
        let lab = try Self.armInstance(fallback: true)
        #expect(!FileManager.default.fileExists(atPath: lab.root + "/sys/fs/multikernel/instances/arm/kcore"))
        let r = try lab.mkdbg(["--instance", "arm", "-e", "sys", "-e", "info image", "-e", "ps", "-e", "log"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("reading arm's 1 region(s) from /proc/iomem through \(lab.root)/proc/kcore"), "\(r.err)")
        let phys = try #require(lab.facts["vmcoreinfo_phys"] as? NSNumber).uint64Value
        #expect(r.err.contains("VMCOREINFO found by scanning the regions, at physical \(hex(phys))"), "\(r.err)")
        #expect(r.out.contains("release       \(lab.fixture.release)\n"))
        #expect(r.out.contains("architecture      arm64\n"))
        // The spawn's KASLR, not the host's.
        let kaslr = try #require(lab.facts["kernel_offset"] as? NSNumber).uint64Value
        #expect(r.out.contains("KASLR offset      \(hex(kaslr))\n"), "\(r.out.prefix(2000))")
        #expect(r.out.contains(lab.fixture.marker))
        for (comm, pid) in try #require(lab.facts["pids"] as? [String: Int]) {
            #expect(r.out.split(separator: "\n").contains { $0.hasSuffix("  " + comm) && $0.split(separator: " ").first == Substring("\(pid)") },
                    "ps has no \(comm) with PID \(pid)")
        }
        // No ipi_buffer and no host vmlinux: the inboxes are unknown, and channels says why.
        let ch = try lab.json(["-e", "channels"])
        let channels = try #require(ch["channels"] as? [[String: Any]])
        #expect(channels.map { $0["name"] as? String } == ["host", "arm"])
        for c in channels {
            #expect(c["source"] as? String == "unknown", "\(c)")
            #expect((c["problems"] as? [String])?.contains { $0.hasPrefix("inbox address unknown: no ") } == true, "\(c)")
        }
    }

    /// The host's kcore itself: an arm64 kcore whose virtual segments mkdbg reads directly; the
    /// spawn's VMCOREINFO note through the host's linear map, the host's layout from its own note.
    @Test func armHostKcoreReadsThroughItsVirtualSegments() throws {
        let lab = try Self.armInstance(fallback: true)
        let linear = try #require(lab.lab["host_linear_map"] as? NSNumber).uint64Value
        let phys = try #require(lab.facts["vmcoreinfo_phys"] as? NSNumber).uint64Value
        let r = try runMkdbg(["-c", lab.root + "/proc/kcore", "-e", "info image", "-e", "x/s \(hex(linear &+ phys &+ 24))",
                              "-e", "ptov \(hex(phys))"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("format            ELF kcore\n"))
        #expect(r.out.contains("release           \(lab.lab["host_release"] as? String ?? "?")\n"))
        #expect(r.out.contains("architecture      arm64\n"))
        #expect(r.out.contains("\"OSRELEASE=\(lab.fixture.release)\\nBUILD-ID=\(lab.fixture.buildId)\\n"), "\(r.out.suffix(600))")
        #expect(r.out.contains(String(linear &+ phys, radix: 16) + "  " + String(phys, radix: 16)), "ptov: \(r.out.suffix(200))")
    }

    /// Upstream's one route to a stopped instance's registers on arm64: the crash notes its CPUs
    /// saved (each holds the NT_PRSTATUS note the dump has for that CPU). mkdbg finds them
    /// through the arm64 per-CPU offsets and the linear map, and `bt -a` walks exactly as on the
    /// dump itself.
    @Test func armFallbackReadsSavedCrashNotes() throws {
        let lab = try Self.armInstance(crashNotes: true)
        let saved = try #require(lab.lab["crash_notes"] as? [[String: Any]])
        #expect(saved.count == 2)
        let at = saved.compactMap { ($0["spawn_phys"] as? NSNumber).map { hex($0.uint64Value) } }.joined(separator: ", ")
        let r = try lab.mkdbg(["--instance", "arm", "-e", "bt -a"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("registers: CPU 0, 1 from the crash notes saved when they stopped (crash_notes, at physical \(at))"), "\(r.err)")
        let dump = try runMkdbg(["-c", lab.fixture.elf, "-s", lab.fixture.vmlinux, "-e", "bt -a"])
        #expect(dump.status == 0 && dump.out.contains("cpu_do_idle"), "\(dump.err)")
        #expect(r.out == dump.out, "through the crash notes:\n\(r.out)\non the dump:\n\(dump.out)")
        // Without them (the plain fallback): no registers, said so.
        let plain = try Self.armInstance(fallback: true).mkdbg(["--instance", "arm", "-e", "bt -a"])
        #expect(plain.err.contains("no CPU registers: no CPU of arm saved crash notes"), "\(plain.err)")
    }
}
