import Testing
import Foundation

/// The lab's live multikernel (`scripts/lab up`): two real kernels, web
/// and db, served through a FUSE kernfs with the debug interface.
struct MultikernelLab {
    let root: String
    let lab: [String: Any]
    let labDirectory: String

    static func load() throws -> MultikernelLab {
        let env = ProcessInfo.processInfo.environment
        let cache = env["MKDBG_CACHE"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/mkdbg")
        let dir = cache + "/lab"
        guard let data = FileManager.default.contents(atPath: dir + "/mk/lab.json"),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let root = json["root"] as? String,
              FileManager.default.fileExists(atPath: root + "/sys/fs/multikernel/instances/web/status") else {
            throw FixtureError("the lab's multikernel is not up: run scripts/lab up (the README's test command does)")
        }
        return MultikernelLab(root: root, lab: json, labDirectory: dir)
    }

    func instance(_ name: String) -> [String: Any] {
        ((lab["instances"] as? [[String: Any]]) ?? []).first { $0["name"] as? String == name } ?? [:]
    }

    func file(_ name: String, _ leaf: String) -> String { root + "/sys/fs/multikernel/instances/\(name)/\(leaf)" }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// QEMU's own view of a guest: "running", "paused", ...
    func qemuStatus(_ name: String) throws -> String {
        let socket = labDirectory + "/run/mk-\(name)/qmp.sock"
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", LabFixture.projectRoot + "/scripts/labkit/qmp.py", socket, "query-status"]
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return json?["status"] as? String ?? "?"
    }

    func mkdbg(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try runMkdbg(["--root", root] + args)
    }

    /// Runs `scripts/lab ARGS...` quietly; returns its exit status.
    func runLab(_ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LabFixture.projectRoot + "/scripts/lab")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Thaws whatever a failed test may have left (the lab's freeze file).
    func thaw(_ name: String) { try? "0".write(toFile: file(name, "freeze"), atomically: false, encoding: .utf8) }
}

@Suite(.serialized) struct MultikernelLabTests {
    @Test func instancesMatchTheLab() throws {
        let lab = try MultikernelLab.load()
        let r = try lab.mkdbg(["--json", "-e", "instances"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let line = try #require(r.out.split(separator: "\n").first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let list = try #require(json["instances"] as? [[String: Any]])
        for name in ["web", "db"] {
            let fact = lab.instance(name)
            let row = try #require(list.first { $0["name"] as? String == name })
            #expect((row["id"] as? NSNumber)?.intValue == fact["id"] as? Int)
            #expect(row["status"] as? String == "active")
            #expect((row["cpus"] as? [NSNumber])?.map { $0.intValue } == fact["cpus"] as? [Int])
            #expect((row["memory_bytes"] as? NSNumber)?.intValue == fact["bytes"] as? Int)
            #expect((row["kernel_cmdline"] as? String)?.contains(fact["token"] as? String ?? "?") == true)
        }
        #expect(list.first { $0["name"] as? String == "spare" }?["status"] as? String == "ready")
        let text = try lab.mkdbg(["-e", "instances"])
        #expect(text.out.contains("web    1   active  no      2-3   512 MiB"))
    }

    @Test func resourcesMatchIomemAndDtMatchesDtc() throws {
        let lab = try MultikernelLab.load()
        let r = try lab.mkdbg(["-e", "resources web", "-e", "dt web", "-e", "dt"])
        #expect(r.status == 0, "stderr: \(r.err)")
        // /proc/iomem names web's region; resources must show exactly it.
        let iomem = lab.read(lab.root + "/proc/iomem")
        let region = try #require(iomem.split(separator: "\n").first { $0.contains("mk-instance-1-web-region-0") })
        let bounds = region.trimmingCharacters(in: .whitespaces).split(separator: " ")[0].split(separator: "-")
        let start = try #require(UInt64(bounds[0], radix: 16)), end = try #require(UInt64(bounds[1], radix: 16))
        #expect(r.out.contains("memory          0x\(String(start, radix: 16))-0x\(String(end + 1, radix: 16)) 512 MiB"))
        #expect(r.out.contains("cpus            2-3"))
        // dt web equals dtc's rendering of the same blob, up to white space.
        let dtc = Process()
        let out = Pipe()
        dtc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        dtc.arguments = ["dtc", "-q", "-I", "dtb", "-O", "dts", lab.file("web", "device_tree")]
        dtc.standardOutput = out
        try dtc.run()
        let reference = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dtc.waitUntilExit()
        let ours = r.out.components(separatedBy: "/dts-v1/;")[1]
        #expect(ours.filter { !$0.isWhitespace } == reference.replacingOccurrences(of: "/dts-v1/;", with: "").filter { !$0.isWhitespace })
    }

    @Test func readsThroughKcoreEqualAQmpDump() throws {
        let lab = try MultikernelLab.load()
        let web = lab.instance("web")
        let marker = try #require(web["marker"] as? String)
        let live = try lab.mkdbg(["--instance", "web", "-e", "p init_uts_ns.name.release", "-e", "x/16xb &init_uts_ns", "-e", "log"])
        #expect(live.status == 0, "stderr: \(live.err)")
        #expect(live.out.contains("\"6.1.0-56-cloud-amd64\"") || live.out.contains("$1 = \"\(web["release"] as? String ?? "?")\""))
        #expect(live.out.contains(marker))
        #expect(live.err.contains("(live)"))
        // The same guest dumped by QEMU itself.
        let dir = NSTemporaryDirectory() + "mkdbg-mkdump-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try lab.runLab(["dump", "mk-web", dir]) == 0)
        let post = try runMkdbg(["-c", dir + "/vmcore.elf", "-e", "p init_uts_ns.name.release", "-e", "x/16xb &init_uts_ns", "-e", "log"])
        #expect(post.status == 0, "stderr: \(post.err)")
        let liveLines = live.out.split(separator: "\n"), postLines = post.out.split(separator: "\n")
        #expect(liveLines.prefix(3) == postLines.prefix(3), "release and bytes differ between kcore and the QMP dump")
        #expect(post.out.contains(marker))
    }

    @Test func freezeHoldsAndThawReleases() throws {
        let lab = try MultikernelLab.load()
        defer { lab.thaw("web") }
        let r = try lab.mkdbg(["--instance", "web", "-e", "freeze", "-e", "p jiffies", "-e", "shell sleep 0.3",
                               "-e", "p jiffies", "-e", "shell python3 \(LabFixture.projectRoot)/scripts/labkit/qmp.py \(lab.labDirectory)/run/mk-web/qmp.sock query-status",
                               "-e", "bt -a", "-e", "thaw"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let values = r.out.split(separator: "\n").filter { $0.hasPrefix("$") }.map { $0.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        #expect(values.count == 2)
        #expect(values.first == values.last, "jiffies moved while frozen: \(values)")
        #expect(r.out.contains("\"status\": \"paused\""))
        #expect(r.out.contains("registers from CPU 0's NT_PRSTATUS note"))
        #expect(lab.read(lab.file("web", "events")) == "frozen 0\n")
        // After the thaw, jiffies advances (idle guests tick lazily: allow a few seconds).
        let first = try lab.mkdbg(["--instance", "web", "-e", "p jiffies"]).out
        var advanced = false
        for _ in 0..<40 where !advanced {
            usleep(150_000)
            advanced = try lab.mkdbg(["--instance", "web", "-e", "p jiffies"]).out != first
        }
        #expect(advanced)
        #expect(try lab.qemuStatus("web") == "running")
    }

    func killedWhileFrozen(_ signal: Int32) throws {
        let lab = try MultikernelLab.load()
        defer { lab.thaw("web") }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var path = exe.appendingPathComponent("mkdbg").path
        if !FileManager.default.isExecutableFile(atPath: path) { path = exe.deletingLastPathComponent().appendingPathComponent("mkdbg").path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--root", lab.root, "-e", "freeze web", "-e", "shell sleep 4"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try lab.qemuStatus("web") != "paused" { usleep(50_000) }
        #expect(try lab.qemuStatus("web") == "paused")
        kill(p.processIdentifier, signal)
        let killed = Date()
        deadline = killed.addingTimeInterval(1)
        while Date() < deadline, try lab.qemuStatus("web") != "running" { usleep(20_000) }
        #expect(try lab.qemuStatus("web") == "running", "web still paused a second after \(signal == SIGKILL ? "SIGKILL" : "SIGTERM")")
        p.waitUntilExit()
    }

    @Test func sigtermThawsTheGuest() throws { try killedWhileFrozen(SIGTERM) }
    @Test func sigkillThawsTheGuestThroughTheGuardian() throws { try killedWhileFrozen(SIGKILL) }

    @Test func snapshotOpensInDrgnWithTheMarker() throws {
        let lab = try MultikernelLab.load()
        let marker = try #require(lab.instance("db")["marker"] as? String)
        let dir = NSTemporaryDirectory() + "mkdbg-snap-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try lab.mkdbg(["-e", "snapshot db \(dir)/db.vmcore"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("thawed"))
        #expect(lab.read(lab.file("db", "events")) == "frozen 0\n")
        let venv = try drgnPython()
        let script = """
            import drgn, sys
            from drgn.helpers.linux.printk import get_dmesg
            prog = drgn.Program(); prog.set_core_dump(sys.argv[1]); prog.load_debug_info([sys.argv[2]])
            print(prog['init_task'].comm.string_().decode())
            print(sys.argv[3] in get_dmesg(prog).decode(errors='replace'))
            """
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", script, dir + "/db.vmcore", lab.instance("db")["vmlinux"] as? String ?? "", marker]
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text == "swapper/0\nTrue\n", "drgn said: \(text)")
    }

    @Test func fallbackThroughHostKcore() throws {
        let lab = try MultikernelLab.load()
        let dir = NSTemporaryDirectory() + "mkdbg-fallback-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try lab.runLab(["mk-fallback", dir]) == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/proc/kcore"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/sys/fs/multikernel/instances/web/kcore"))
        let r = try runMkdbg(["--root", dir, "--instance", "web", "-e", "p init_uts_ns.name.release", "-e", "log", "-e", "freeze"])
        #expect(r.out.contains("$1 = \"\(lab.instance("web")["release"] as? String ?? "?")\""))
        #expect(r.out.contains(lab.instance("web")["marker"] as? String ?? "?"))
        #expect(r.err.contains("reading web's 1 region(s) from /proc/iomem"))
        #expect(r.err.contains("VMCOREINFO found by scanning"))
        // Today's upstream has no freeze file: a clear refusal.
        #expect(r.err.contains("freeze does not exist"))
        #expect(r.status != 0)
    }

    /// Upstream's one route to a stopped instance's registers: crash notes
    /// its CPUs saved (mk_crash_notes_wanted). The fixture's halted web has
    /// them in its crash_notes buffers; the plain fixture has none.
    @Test func fallbackReadsSavedCrashNotes() throws {
        let lab = try MultikernelLab.load()
        let dir = NSTemporaryDirectory() + "mkdbg-fallback-cn-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try lab.runLab(["mk-fallback", "--crash-notes", dir]) == 0)
        let factsData = try #require(FileManager.default.contents(atPath: dir + "/lab.json"))
        let facts = try #require(try JSONSerialization.jsonObject(with: factsData) as? [String: Any])
        let saved = try #require(facts["crash_notes"] as? [[String: Any]])
        #expect(saved.count == 2)
        #expect(lab.read(dir + "/sys/fs/multikernel/instances/web/status") == "loaded\n")
        let r = try runMkdbg(["--root", dir, "--instance", "web", "--json", "-e", "bt -a", "-e", "info image"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let phys = saved.compactMap { $0["spawn_phys"] as? Int }.map { "0x" + String($0, radix: 16) }
        #expect(r.err.contains("registers: CPU 0, 1 from the crash notes saved when they stopped (crash_notes, at physical \(phys.joined(separator: ", ")))"), "stderr: \(r.err)")
        let lines = r.out.split(separator: "\n")
        let first = try #require(lines.first)
        let bt = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        let traces = try #require(bt["backtraces"] as? [[String: Any]])
        #expect(traces.count == 2)
        for (cpu, t) in traces.enumerated() {
            // Each CPU's walk starts at the rip it saved.
            let rip = try #require(saved[cpu]["rip"] as? UInt64 ?? (saved[cpu]["rip"] as? NSNumber)?.uint64Value)
            let frames = try #require(t["frames"] as? [[String: Any]], "\(t)")
            let pc = frames.first?["pc"] as? String ?? frames.first?["address"] as? String ?? ""
            #expect(pc == "0x" + String(rip, radix: 16), "CPU \(cpu): first frame \(frames.first ?? [:]), saved rip \(String(rip, radix: 16))")
            #expect(t["active"] as? Bool == true, "\(t)")
        }
        let info = String(lines.dropFirst().first ?? "")
        #expect(info.contains("from the crash notes saved when they stopped"), "\(info)")

        // Without crash notes: said plainly, and bt -a has nothing to start from.
        let plain = NSTemporaryDirectory() + "mkdbg-fallback-none-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: plain) }
        #expect(try lab.runLab(["mk-fallback", plain]) == 0)
        let n = try runMkdbg(["--root", plain, "--instance", "web", "-e", "bt -a"])
        #expect(n.err.contains("no CPU registers: no CPU of web saved crash notes; upstream saves them only when the CPUs stop while a backup instance whose host tree has a vmcore node runs"), "stderr: \(n.err)")
        #expect(n.out.contains("bt: the image has no CPU registers"), "\(n.out)")
    }

    /// Boot manifests as 223163d8 sizes them (MK_MANIFEST_SIZE 256 KiB), with
    /// the /chosen of manifest.c: pool slot and host-tree node.
    @Test func bootManifestsFollowUpstream() throws {
        let lab = try MultikernelLab.load()
        let shared = try #require(lab.lab["shared"] as? [String: Any])
        let base = try #require(shared["phys"] as? Int), path = try #require(shared["path"] as? String)
        let file = try #require(FileHandle(forReadingAtPath: path))
        defer { try? file.close() }
        for (name, expectedCpus) in [("web", "0x00 0x00 0x00 0x01 0x00 0x04 0x00 0x05 0x00 0x06 0x00 0x07"),
                                     ("db", "0x00 0x00 0x00 0x01 0x00 0x02 0x00 0x03 0x00 0x06 0x00 0x07")] {
            let manifest = try #require(lab.instance(name)["manifest"] as? [Int])
            #expect(manifest[1] == 256 * 1024, "\(name): manifest of \(manifest[1]) bytes")
            try file.seek(toOffset: UInt64(manifest[0] - base))
            let blob = try #require(try file.read(upToCount: manifest[1]))
            let dtb = NSTemporaryDirectory() + "mkdbg-manifest-\(name)-\(getpid()).dtb"
            defer { try? FileManager.default.removeItem(atPath: dtb) }
            try blob.write(to: URL(fileURLWithPath: dtb))
            let dtc = Process()
            let out = Pipe()
            dtc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            dtc.arguments = ["dtc", "-q", "-I", "dtb", "-O", "dts", dtb]
            dtc.standardOutput = out
            try dtc.run()
            let dts = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            dtc.waitUntilExit()
            #expect(dtc.terminationStatus == 0)
            #expect(dts.contains("multikernel,pool-slot = <0x01 0x7ffff000>;"), "\(dts)")
            #expect(dts.contains("multikernel,host-ipi-pages = <0x41>;") && dts.contains("multikernel,ipi-pages = <0x41>;"), "\(dts)")
            #expect(dts.contains("multikernel,host-tree {") && dts.contains("cpus = <\(expectedCpus)>;"), "\(dts)")
            // The reserved ranges include both 256 KiB manifests.
            #expect(dts.contains("0x00 0x40000"), "\(dts)")
        }
        // The instance's kcore maps its whole manifest.
        let r = try lab.mkdbg(["--instance", "web", "-e", "info image"])
        let manifest = try #require(lab.instance("web")["manifest"] as? [Int])
        #expect(r.out.contains("0x" + String(manifest[0], radix: 16) + "-0x" + String(manifest[0] + manifest[1], radix: 16)), "\(r.out)")
    }

    /// A /dev/dma_heap/multikernel buffer (`daxfs` under the pool) is listed, not flagged.
    @Test func resourcesListDaxfsBuffers() throws {
        let lab = try MultikernelLab.load()
        #expect(lab.read(lab.root + "/proc/iomem").contains("    170000000-173ffffff : daxfs\n"))
        let r = try lab.mkdbg(["-e", "resources"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("  buffer          0x170000000-0x174000000 64 MiB daxfs"), "\(r.out)")
        #expect(!r.out.contains("problems:") || !r.out.contains("daxfs 0x"), "\(r.out)")
        let j = try lab.mkdbg(["--json", "-e", "resources"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        let buffers = try #require((json["pool"] as? [String: Any])?["buffers"] as? [[String: Any]])
        #expect(buffers.count == 1 && buffers.first?["name"] as? String == "daxfs" && buffers.first?["size"] as? Int == 0x4000000)
    }

    @Test func multikernelCommandsSpeakJSON() throws {
        let lab = try MultikernelLab.load()
        defer { lab.thaw("db") }
        let dir = NSTemporaryDirectory() + "mkdbg-mkjson-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let commands: [(String, [String])] = [
            ("instances", ["root", "instances"]), ("resources", ["pool", "instances", "problems"]),
            ("resources web", ["instances", "problems"]), ("dt web", ["dts"]),
            ("instance db", ["instance", "live", "fallback", "image", "release", "notes"]),
            ("freeze db", ["instance", "frozen", "ours", "ms"]), ("thaw db", ["instance", "frozen"]),
            ("snapshot db \(dir)/db.vmcore", ["instance", "file", "froze"]),
        ]
        var args = ["--json"]
        for c in commands { args += ["-e", c.0] }
        let r = try lab.mkdbg(args)
        #expect(r.status == 0, "stderr: \(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == commands.count)
        for (line, c) in zip(lines, commands) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["ok"] as? Bool == true, "\(c.0): \(object["error"] ?? "")")
            for key in c.1 { #expect(object.keys.contains(key), "\(c.0) lacks \(key)") }
        }
    }

    @Test func badInputsAreClearErrors() throws {
        let lab = try MultikernelLab.load()
        let unknown = try lab.mkdbg(["--instance", "nope", "-e", "p 1"])
        #expect(unknown.status != 0)
        #expect(unknown.err.contains("no instance named \"nope\"; known instances: db, spare, web"))
        let spare = try lab.mkdbg(["--instance", "spare", "-e", "p 1"])
        #expect(spare.status != 0)
        #expect(spare.err.contains("instance spare is ready: it runs no kernel"))
        let unmounted = try runMkdbg(["--root", "/nonexistent", "-e", "instances"])
        #expect(unmounted.status != 0)
        #expect(unmounted.err.contains("no multikernel kernfs at /nonexistent/sys/fs/multikernel"))
        let freezeSpare = try lab.mkdbg(["-e", "freeze spare"])
        #expect(freezeSpare.status != 0)
    }
}
