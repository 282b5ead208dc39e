import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo

/// The kernel-knowledge commands (ps, task, sys, list, per_cpu, mod) on the
/// lab's real dumps, checked against what the guest itself reported
/// (facts.json, console.log) and against each other.
@Suite(.serialized) struct KernelTests {
    /// Runs mkdbg with --json and returns one object per command.
    static func json(_ image: String, _ commands: [String], environment: [String: String] = [:]) throws -> [[String: Any]] {
        let r = try runMkdbgWithEnvironment(["--json", "-c", image] + commands.flatMap { ["-e", $0] }, environment: environment)
        let objects = try r.out.split(separator: "\n").map { line -> [String: Any] in
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(o, "not a JSON object: \(line)")
        }
        #expect(objects.count == commands.count, "stdout: \(r.out)\nstderr: \(r.err)")
        return objects
    }

    struct Task: Hashable {
        var pid: Int, ppid: Int, cpu: Int, state: String, task: String, comm: String, leader: Bool, idle: Bool
    }

    static func tasks(_ o: [String: Any]) throws -> [Task] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        let list = try #require(o["tasks"] as? [[String: Any]])
        return try list.map { t in
            Task(pid: try #require(t["pid"] as? Int), ppid: try #require(t["ppid"] as? Int), cpu: t["cpu"] as? Int ?? -1,
                 state: try #require(t["state"] as? String), task: try #require(t["task"] as? String),
                 comm: try #require(t["comm"] as? String), leader: try #require(t["thread_group_leader"] as? Bool),
                 idle: try #require(t["idle"] as? Bool))
        }
    }

    static func facts(_ fx: LabFixture) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: fx.directory + "/facts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `MKDBG-PS pid ppid comm` lines the guest printed when it was ready.
    static func consolePs(_ fx: LabFixture) throws -> [(pid: Int, ppid: Int, comm: String)] {
        let text = try String(contentsOfFile: fx.directory + "/console.log", encoding: .isoLatin1)
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let w = line.split(separator: " ", maxSplits: 3)
            guard w.count == 4, w[0] == "MKDBG-PS", let pid = Int(w[1]), let ppid = Int(w[2]) else { return nil }
            return (pid, ppid, String(w[3]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test(arguments: ["running", "panicked"])
    func psListsTheLabsProcessesInitAndIdleTasks(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let facts = try Self.facts(fx)
        let pids = try #require(facts["pids"] as? [String: Int])
        let o = try Self.json(fx.elf, ["ps"])
        let tasks = try Self.tasks(o[0])
        #expect((o[0]["warnings"] as? [Any])?.isEmpty == true, "\(o[0]["warnings"] ?? "")")
        for comm in fx.processes {
            let pid = try #require(pids[comm], "facts.json has no pid for \(comm)")
            let t = tasks.filter { $0.comm == comm }
            #expect(t.count == 1 && t.first?.pid == pid && t.first?.ppid == 1 && t.first?.leader == true,
                    "\(comm): \(t)")
        }
        let initTask = tasks.filter { $0.pid == 1 }
        #expect(initTask.count == 1 && initTask.first?.comm == "init" && initTask.first?.ppid == 0)
        // One idle task per CPU: as many as the dump has CPU register notes.
        let cpus = try fx.target().image.prStatus.count
        #expect(cpus >= 2)
        let idle = tasks.filter { $0.pid == 0 }
        #expect(idle.count == cpus, "\(idle)")
        #expect(Set(idle.map(\.cpu)) == Set(0..<cpus))
        #expect(idle.allSatisfy { $0.idle && $0.comm == "swapper/\($0.cpu)" })
        #expect(Set(tasks.map(\.task)).count == tasks.count, "a task listed twice")
        // Every process the guest listed at ready time is there with its parent
        // (comm up to the "-wq" suffix /proc adds to kworkers), except short-lived ones.
        let listed = Dictionary(tasks.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        let console = try Self.consolePs(fx)
        #expect(console.count > 40)
        for p in console where p.comm.hasPrefix("mk-") || p.pid <= 2 || p.comm.hasPrefix("ksoftirqd") {
            let t = try #require(listed[p.pid], "PID \(p.pid) \(p.comm) missing")
            #expect(t.ppid == p.ppid && p.comm.hasPrefix(t.comm), "\(p) vs \(t)")
        }
    }

    @Test func psIsTheSameOnElfAndKdump() throws {
        let fx = try LabFixture.load("panicked")
        let elf = try Self.tasks(try Self.json(fx.elf, ["ps"])[0])
        let kdump = try Self.tasks(try Self.json(fx.kdump, ["ps"])[0])
        let flat = try Self.tasks(try Self.json(fx.kdumpFlat, ["ps"])[0])
        #expect(elf == kdump)
        #expect(elf == flat)
        #expect(elf.count > 50)
    }

    @Test func psFiltersByPidCommAndAddress() throws {
        let fx = try LabFixture.load("running")
        let facts = try Self.facts(fx)
        let pids = try #require(facts["pids"] as? [String: Int])
        let worker = try #require(pids["mk-worker-1"])
        let o = try Self.json(fx.elf, ["ps 1", "ps mk-worker-1 \(worker)", "ps 'mk-*'", "ps -G 0", "ps nosuch-task", "ps 2 kthreadd"])
        let one = try Self.tasks(o[0])
        #expect(one.count == 1 && one.first?.pid == 1 && one.first?.comm == "init")
        let w = try Self.tasks(o[1])
        #expect(w.count == 1 && w.first?.pid == worker)
        let mk = try Self.tasks(o[2])
        #expect(Set(mk.map(\.comm)) == Set(fx.processes))
        let idle = try Self.tasks(o[3])
        #expect(idle.count >= 2 && idle.allSatisfy { $0.pid == 0 })
        #expect(o[4]["ok"] as? Bool == false)
        #expect(((o[4]["error"] as? [String: Any])?["message"] as? String)?.contains("no task matches nosuch-task") == true)
        #expect(try Self.tasks(o[5]).count == 1)
        // By address, in text.
        let address = try #require(w.first?.task)
        let r = try runMkdbg(["-c", fx.elf, "-e", "ps \(address)"])
        #expect(r.status == 0)
        #expect(r.out.contains(" mk-worker-1\n") || r.out.hasSuffix(" mk-worker-1"), "\(r.out)")
        #expect(r.out.hasPrefix("   PID    PPID  CPU  TASK              ST  COMM\n"))
    }

    @Test func taskPrintsChosenMembers() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.kdump, "-e", "task 1 comm pid se.vruntime", "-e", "task 2"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("  comm = \"init\", '\\000' <repeats 11 times>\n"))
        #expect(r.out.contains("  pid = 1\n"))
        #expect(r.out.contains("  se.vruntime = "))
        #expect(r.out.contains("PID: 1  TASK: "))
        #expect(r.out.contains("COMMAND: \"kthreadd\"\n{\n  thread_info = {"))
        let o = try Self.json(fx.elf, ["task 1 comm", "task 99999", "task 1 no_such_member"])
        let members = try #require(o[0]["members"] as? [[String: Any]])
        #expect((members.first?["value"] as? String)?.hasPrefix("\"init\"") == true)
        #expect(o[0]["comm"] as? String == "init")
        #expect(o[1]["ok"] as? Bool == false)
        #expect(o[2]["ok"] as? Bool == false)
        #expect(((o[2]["error"] as? [String: Any])?["message"] as? String)?.contains("no_such_member") == true)
    }

    @Test func sysNamesThePanickingTask() throws {
        let fx = try LabFixture.load("panicked")
        let facts = try Self.facts(fx)
        let comm = try #require(facts["panic_comm"] as? String)
        let pid = try #require((facts["pids"] as? [String: Int])?[comm])
        for image in [fx.elf, fx.kdump] {
            let o = try Self.json(image, ["sys"])[0]
            #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
            #expect(o["release"] as? String == fx.release)
            #expect(o["machine"] as? String == "x86_64")
            let panic = try #require(o["panic"] as? [String: Any])
            #expect(panic["comm"] as? String == comm)
            #expect(panic["pid"] as? Int == pid)
            // The message, as the console printed it when the kernel panicked.
            let console = try String(contentsOfFile: fx.directory + "/console.log", encoding: .isoLatin1)
            let line = try #require(console.split(whereSeparator: \.isNewline).first { $0.contains("Kernel panic - not syncing: ") })
            let printed = String(line[line.range(of: "Kernel panic - not syncing: ")!.lowerBound...])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(panic["message"] as? String == printed)
            #expect(o["hz"] as? Int == 250)
            let uptime = try #require(o["uptime_seconds"] as? Double)
            #expect(uptime > 0.5 && uptime < 600)
            #expect((o["warnings"] as? [Any])?.isEmpty == true, "\(o["warnings"] ?? "")")
        }
        let text = try runMkdbg(["-c", fx.kdump, "-e", "sys"])
        #expect(text.out.contains("panic task    PID \(pid) \"\(comm)\" task "), "\(text.out)")
        #expect(text.out.contains("release       \(fx.release)\n"))
    }

    @Test func sysOnARunningKernel() throws {
        let fx = try LabFixture.load("running")
        let facts = try Self.facts(fx)
        let o = try Self.json(fx.elf, ["sys"])[0]
        #expect(o["release"] as? String == fx.release)
        #expect(o["panic"] is NSNull)
        #expect((facts["uname"] as? String)?.hasSuffix(o["version"] as? String ?? "?") == true)
        #expect(o["nr_cpu_ids"] as? Int == 2)
        #expect((o["online_cpus"] as? [Int]) == [0, 1])
        #expect((o["load_average"] as? [String])?.count == 3)
        // 512 MiB of guest RAM, less what the kernel reserves.
        let bytes = try #require(o["total_ram_bytes"] as? Int)
        #expect(bytes > 400 << 20 && bytes <= 512 << 20)
        // nr_threads counts what ps lists, idle tasks aside.
        let tasks = try Self.tasks(try Self.json(fx.elf, ["ps"])[0])
        #expect(o["nr_threads"] as? Int == tasks.filter { !$0.idle }.count)
    }

    @Test func listOverInitTaskTasksCountsWhatPsLists() throws {
        let fx = try LabFixture.load("running")
        let o = try Self.json(fx.elf, ["ps -G", "list -H init_task.tasks -s task_struct.tasks",
                                       "list -H init_task.tasks -s task_struct.tasks,pid,comm",
                                       "list -o task_struct.tasks -s task_struct.pid init_task",
                                       "list -r -H init_task.tasks -s task_struct.tasks"])
        let leaders = try Self.tasks(o[0]).filter { !$0.idle }
        for i in 1...4 { #expect(o[i]["ok"] as? Bool == true, "\(o[i]["error"] ?? "")") }
        let entries = try #require(o[1]["entries"] as? [[String: Any]]).compactMap { $0["address"] as? String }
        #expect(o[1]["count"] as? Int == leaders.count)
        #expect(o[1]["complete"] as? Bool == true)
        #expect(Set(entries) == Set(leaders.map(\.task)))
        // Members per entry: pid and comm agree with ps.
        let withMembers = try #require(o[2]["entries"] as? [[String: Any]])
        let byTask = Dictionary(leaders.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
        for e in withMembers {
            let t = try #require(byTask[e["address"] as? String ?? ""])
            let m = try #require(e["members"] as? [[String: Any]])
            #expect(m.count == 2 && m[0]["value"] as? String == String(t.pid))
            #expect((m[1]["value"] as? String)?.hasPrefix("\"" + t.comm) == true)
        }
        // crash's form: from an entry (init_task itself, listed first).
        #expect(o[3]["count"] as? Int == leaders.count + 1)
        // Backwards: the same entries reversed.
        let reversed = try #require(o[4]["entries"] as? [[String: Any]]).compactMap { $0["address"] as? String }
        #expect(reversed == entries.reversed())
        let text = try runMkdbg(["-c", fx.elf, "-e", "list -H init_task.tasks -s task_struct.tasks,pid,comm"])
        #expect(text.out.contains("\n  pid = 1\n  comm = \"init\", '\\000' <repeats 11 times>\n"))
    }

    @Test func listOverModulesAndHlists() throws {
        let fx = try LabFixture.load("running")
        let o = try Self.json(fx.elf, ["list -H modules -s module.list,name", "mod",
                                       "list -H container_of(init_task.tasks.next, struct task_struct, tasks)->thread_pid->tasks[0] -o task_struct.pid_links -s task_struct.pid",
                                       "list -H init_task.tasks -s task_struct.comm"])
        let names = try #require(o[0]["entries"] as? [[String: Any]]).compactMap {
            (($0["members"] as? [[String: Any]])?.first?["value"] as? String)
        }
        let mods = try #require(o[1]["modules"] as? [[String: Any]])
        #expect(names.count == mods.count)
        for (n, m) in zip(names, mods) { #expect(n.hasPrefix("\"\(m["name"] as? String ?? "?")\"")) }
        // An hlist (the pid's task list): walked as one, from its hlist_head.
        #expect(o[2]["ok"] as? Bool == true, "\(o[2]["error"] ?? "")")
        #expect(o[2]["kind"] as? String == "hlist")
        let pidEntries = try #require(o[2]["entries"] as? [[String: Any]])
        #expect(pidEntries.count == 1)
        #expect(((pidEntries.first?["members"] as? [[String: Any]])?.first?["value"] as? String) == "1")
        // A member that is not a list linkage is refused with a hint.
        #expect(o[3]["ok"] as? Bool == false)
        #expect(((o[3]["error"] as? [String: Any])?["message"] as? String)?.contains("-o STRUCT.MEMBER") == true)
    }

    @Test func perCpuAgreesAcrossDumpFormats() throws {
        let fx = try LabFixture.load("panicked")
        let commands = ["per_cpu \(fx.currentTask)", "per_cpu runqueues.nr_running", "per_cpu/x runqueues.curr 0"]
        let elf = try Self.json(fx.elf, commands)
        let kdump = try Self.json(fx.kdump, commands)
        let flat = try Self.json(fx.kdumpFlat, commands)
        for i in 0..<commands.count {
            #expect(elf[i]["ok"] as? Bool == true, "\(elf[i]["error"] ?? "")")
            let a = try #require(elf[i]["cpus"] as? [[String: Any]])
            let b = try #require(kdump[i]["cpus"] as? [[String: Any]])
            let c = try #require(flat[i]["cpus"] as? [[String: Any]])
            #expect(a.map { "\($0["address"] ?? "")=\($0["value"] ?? "")" } == b.map { "\($0["address"] ?? "")=\($0["value"] ?? "")" })
            #expect(a.map { "\($0["value"] ?? "")" } == c.map { "\($0["value"] ?? "")" })
        }
        // CPU 0's current task is the task sys names as panicking (the panic was on CPU 0).
        let current = try #require(elf[0]["cpus"] as? [[String: Any]])
        #expect(current.count == 2)
        let sys = try Self.json(fx.elf, ["sys"])[0]
        let panic = try #require(sys["panic"] as? [String: Any])
        let cpu = try #require(panic["cpu"] as? Int)
        let panicTask = try #require(panic["task"] as? String)
        #expect((current[cpu]["value"] as? String)?.hasSuffix(" " + panicTask) == true, "\(current[cpu])")
        let bad = try Self.json(fx.elf, ["per_cpu jiffies", "per_cpu \(fx.currentTask) 7", "per_cpu \(fx.currentTask)->comm"])
        #expect(bad.allSatisfy { $0["ok"] as? Bool == false })
    }

    @Test(arguments: ["running", "panicked"])
    func modListsTheLabsModules(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let facts = try Self.facts(fx)
        let expected = try #require(facts["modules"] as? [String])
        let o = try Self.json(fx.kdump, ["mod"])[0]
        let mods = try #require(o["modules"] as? [[String: Any]])
        #expect(Set(mods.compactMap { $0["name"] as? String }) == Set(expected))
        for m in mods {
            let base = try #require(UInt64((m["base"] as? String ?? "").dropFirst(2), radix: 16))
            #expect(base >= 0xffff_ffff_a000_0000, "module space")
            #expect((m["size"] as? Int ?? 0) > 0)
            #expect(m["state"] as? String == "live")
            #expect((m["build_id"] as? String)?.count == 40)
        }
    }

    @Test func modFindsADebugFileByName() throws {
        let fx = try LabFixture.load("running")
        let mods = try #require(try Self.json(fx.elf, ["mod"])[0]["modules"] as? [[String: Any]])
        let pvpanic = try #require(mods.first { $0["name"] as? String == "pvpanic" })
        let buildId = try #require(pvpanic["build_id"] as? String)
        // scripts/lab fetch links Debian's module debug tree into the store as lib/modules/<release>.
        let fromLab = try Self.json(fx.elf, ["mod -s pvpanic", "mod -s no_such_module"])
        #expect(fromLab[0]["ok"] as? Bool == true, "\(fromLab[0]["error"] ?? "")")
        #expect((fromLab[0]["path"] as? String)?.hasSuffix("lib/modules/\(fx.release)/kernel/drivers/misc/pvpanic/pvpanic.ko") == true)
        #expect(fromLab[0]["file_build_id"] as? String == buildId)
        #expect(fromLab[0]["dwarf"] as? Bool == true)
        #expect(fromLab[0]["dwarf_loaded"] as? Bool == true)
        #expect(fromLab[1]["ok"] as? Bool == false)
        #expect(((fromLab[1]["error"] as? [String: Any])?["message"] as? String)?.contains("no module no_such_module is loaded") == true)
        // A store with a module file of the same build-id: found under modules/<release>/.
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("mkdbg-mod-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: store) }
        let dir = store + "/modules/\(fx.release)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ElfModuleBuilder.write(path: dir + "/pvpanic.ko", buildId: buildId)
        let found = try Self.json(fx.elf, ["mod -s pvpanic"], environment: ["MKDBG_SYMBOLS": store])[0]
        #expect(found["ok"] as? Bool == true, "\(found["error"] ?? "")")
        #expect(found["path"] as? String == dir + "/pvpanic.ko")
        #expect(found["file_build_id"] as? String == buildId)
        #expect(found["dwarf_loaded"] as? Bool == false)
        // A file of another build is rejected (and said so); the lab store's real one is used.
        try ElfModuleBuilder.write(path: dir + "/pvpanic.ko", buildId: String(repeating: "ab", count: 20))
        let other = try Self.json(fx.elf, ["mod -s pvpanic"], environment: ["MKDBG_SYMBOLS": store])[0]
        #expect(other["ok"] as? Bool == true)
        #expect((other["path"] as? String)?.hasPrefix(dir) == false)
        #expect((other["rejected"] as? [String])?.contains { $0.hasPrefix("\(dir)/pvpanic.ko: build-id abab") } == true)
    }

    /// The fields docs/json.md promises for these commands, with their JSON types.
    @Test func jsonFieldsAreTheDocumentedOnes() throws {
        let fx = try LabFixture.load("panicked")
        let schema: [(String, [String: String])] = [
            ("sys", ["release": "s", "version": "s", "machine": "s", "nodename": "s", "nr_cpu_ids": "n",
                     "online_cpus": "a", "possible_cpus": "a", "uptime_seconds": "n", "jiffies": "n", "hz": "n",
                     "hz_method": "s", "load_average": "a", "total_ram_pages": "n", "page_size": "n",
                     "total_ram_bytes": "n", "nr_threads": "n", "panic": "o", "warnings": "a"]),
            ("ps 1", ["tasks": "a", "warnings": "a"]),
            ("task 1 comm", ["pid": "n", "comm": "s", "cpu": "n", "task": "s", "members": "a", "warnings": "a"]),
            ("list -H modules -s module.list,name", ["kind": "s", "head": "s", "head_is_entry": "b", "link_offset": "n",
                                                     "count": "n", "complete": "b", "entries": "a", "warnings": "a"]),
            ("per_cpu runqueues.nr_running", ["expression": "s", "type": "s", "offset": "s", "cpus": "a"]),
            ("mod", ["modules": "a", "warnings": "a"]),
        ]
        let objects = try Self.json(fx.elf, schema.map(\.0))
        func kind(_ v: Any?) -> String {
            switch v {
            case is String: return "s"
            case let n as NSNumber: return String(describing: type(of: n)).contains("Bool") ? "b" : "n"
            case is [Any]: return "a"
            case is [String: Any]: return "o"
            default: return "?"
            }
        }
        for (o, (command, fields)) in zip(objects, schema) {
            #expect(o["ok"] as? Bool == true, "\(command): \(o["error"] ?? "")")
            for (name, want) in fields { #expect(kind(o[name]) == want, "\(command): \(name) is \(o[name] ?? "missing")") }
        }
        let task = try #require((objects[1]["tasks"] as? [[String: Any]])?.first)
        for (name, want) in ["pid": "n", "tgid": "n", "ppid": "n", "cpu": "n", "state": "s", "task": "s", "comm": "s",
                             "thread_group_leader": "b", "idle": "b", "active": "b"] {
            #expect(kind(task[name]) == want, "ps task \(name)")
        }
        let module = try #require((objects[5]["modules"] as? [[String: Any]])?.first)
        for (name, want) in ["name": "s", "module": "s", "base": "s", "size": "n", "text_size": "n", "state": "s", "build_id": "s"] {
            #expect(kind(module[name]) == want, "mod \(name)")
        }
        let panic = try #require(objects[0]["panic"] as? [String: Any])
        for (name, want) in ["message": "s", "cpu": "n", "task": "s", "pid": "n", "comm": "s"] {
            #expect(kind(panic[name]) == want, "sys panic \(name)")
        }
    }

    /// A copy of the ELF dump with one task's `tasks.next` pointing at
    /// itself: ps warns, naming the address, and still lists every task
    /// (it walks back from the head for the rest).
    @Test func psSurvivesABrokenTaskList() throws {
        let fx = try LabFixture.load("running")
        let facts = try Self.facts(fx)
        let victimPid = try #require((facts["pids"] as? [String: Int])?["mk-worker-1"])
        let before = try Self.json(fx.elf, ["ps", "p offsetof(struct task_struct, tasks)"])
        let tasks = try Self.tasks(before[0])
        let offset = try #require(before[1]["integer"] as? UInt64)
        let victim = try #require(tasks.first { $0.pid == victimPid })
        let link = try #require(UInt64(victim.task.dropFirst(2), radix: 16)) + offset

        let damaged = try DamagedDump(fx, name: "damaged")
        defer { damaged.remove() }
        let copy = damaged.path
        try damaged.write(link, atVirtual: link)

        let o = try Self.json(copy, ["ps", "list -H init_task.tasks"])
        #expect(o[0]["ok"] as? Bool == true)
        let warnings = try #require(o[0]["warnings"] as? [String])
        let hexLink = String(format: "0x%llx", link)
        #expect(warnings.contains { $0.contains(hexLink) && $0.contains("PID \(victimPid)") }, "\(warnings)")
        let after = try Self.tasks(o[0])
        // Every task is still found, walking back from the head.
        let missing = Set(tasks).subtracting(after), extra = Set(after).subtracting(tasks)
        #expect(missing.isEmpty && extra.isEmpty, "missing \(missing.map { "\($0.pid) \($0.comm)" }), extra \(extra.map { "\($0.pid) \($0.comm)" })")
        let listWarnings = try #require(o[1]["warnings"] as? [String])
        #expect(o[1]["complete"] as? Bool == false)
        #expect(listWarnings.contains { $0.contains(hexLink) })
        let text = try runMkdbg(["-c", copy, "-e", "ps"])
        #expect(text.status == 0)
        #expect(text.out.contains("ps: warning: init_task.tasks at task_struct \(victim.task) (PID \(victimPid), mk-worker-1): list loops back to \(hexLink)"))
    }
}

/// A minimal ELF relocatable file (a stand-in kernel module) holding only a
/// GNU build-id note: enough for the symbol store's lookup and check.
enum ElfModuleBuilder {
    static func write(path: String, buildId: String) throws {
        var id: [UInt8] = []
        var chars = Array(buildId)
        while chars.count >= 2 {
            id.append(UInt8(String(chars[0...1]), radix: 16)!)
            chars.removeFirst(2)
        }
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } }
        func le64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8(v >> (8 * $0) & 0xff) } }
        let note = le32(4) + le32(id.count) + le32(3) + Array("GNU\0".utf8) + id
        let shstrtab = Array("\0.note.gnu.build-id\0.shstrtab\0".utf8)
        let noteOffset = 64
        let strOffset = noteOffset + note.count
        let shOffset = (strOffset + shstrtab.count + 7) & ~7
        var header: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        header += le16(1) + le16(62) + le32(1) + le64(0) + le64(0) + le64(shOffset)
        header += le32(0) + le16(64) + le16(0) + le16(0) + le16(64) + le16(3) + le16(2)
        func section(name: Int, type: Int, flags: Int, offset: Int, size: Int, align: Int) -> [UInt8] {
            le32(name) + le32(type) + le64(flags) + le64(0) + le64(offset) + le64(size) + le32(0) + le32(0) + le64(align) + le64(0)
        }
        var file = header + note + shstrtab
        file += [UInt8](repeating: 0, count: shOffset - file.count)
        file += [UInt8](repeating: 0, count: 64)
        file += section(name: 1, type: 7, flags: 2, offset: noteOffset, size: note.count, align: 4)
        file += section(name: 20, type: 3, flags: 0, offset: strOffset, size: shstrtab.count, align: 1)
        FileManager.default.createFile(atPath: path, contents: Data(file))
    }
}

/// `runMkdbg` with extra environment variables.
func runMkdbgWithEnvironment(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, out: String, err: String) {
    let r = try runProgram(mkdbgExecutable, arguments, environment: environment)
    return (r.status, String(decoding: r.out, as: UTF8.self), String(decoding: r.err, as: UTF8.self))
}
