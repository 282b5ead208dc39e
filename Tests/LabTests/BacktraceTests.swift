import Testing
import Foundation
import MKFormat
import MKDebugInfo
import MKKernel
import MKCommands

/// `bt` on the lab's real dumps: the panicking task (through the module
/// that stopped the CPU, panic() and the sysrq path, down to the syscall
/// entry), sleeping tasks (from their switch frame into the scheduler), bad
/// input, and the unwinder's methods one at a time.
@Suite(.serialized) struct BacktraceTests {
    /// facts.json's `panic_comm` and `pids`, which LabFixture does not carry.
    struct Facts {
        var panicComm: String?
        var pids: [String: Int]
    }

    static func facts(_ fx: LabFixture) throws -> Facts {
        let data = try #require(FileManager.default.contents(atPath: fx.directory + "/facts.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Facts(panicComm: json["panic_comm"] as? String, pids: json["pids"] as? [String: Int] ?? [:])
    }

    /// One `--json` line per command.
    static func json(_ fx: LabFixture, _ commands: [String], image: String? = nil) throws -> [[String: Any]] {
        let r = try runMkdbg(["--json", "-c", image ?? fx.elf] + commands.flatMap { ["-e", $0] })
        return try r.out.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    static func frames(_ bt: [String: Any]) -> [[String: Any]] { bt["frames"] as? [[String: Any]] ?? [] }
    static func functions(_ bt: [String: Any]) -> [String] { frames(bt).map { $0["function"] as? String ?? "??" } }

    /// Whether `wanted` appear in `names` in this order (other names may come between).
    static func inOrder(_ wanted: [String], in names: [String]) -> Bool {
        var i = names.startIndex
        for w in wanted {
            guard let at = names[i...].firstIndex(of: w) else { return false }
            i = at + 1
        }
        return true
    }

    func checkPanicTrace(_ bt: [String: Any], comm: String) {
        #expect(bt["comm"] as? String == comm)
        #expect(bt["active"] as? Bool == true)
        let names = Self.functions(bt)
        #expect(Self.inOrder(["panic", "sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger"], in: names),
                "frames: \(names)")
        // Innermost first: the panic notifier chain runs inside panic().
        #expect(Self.inOrder(["atomic_notifier_call_chain", "panic"], in: names), "frames: \(names)")
        let last = names.last ?? ""
        #expect(last.hasPrefix("entry_SYSCALL_64") || last == "do_syscall_64", "last frame \(last)")
        // The CPU stopped in the pvpanic module: a named module frame, found by its kallsyms.
        let first = Self.frames(bt).first ?? [:]
        #expect(first["module"] as? String == "pvpanic")
        #expect((first["function"] as? String)?.isEmpty == false)
        #expect(Self.frames(bt).allSatisfy { $0["reliable"] as? Bool == true })
        #expect((bt["notes"] as? [String] ?? []).contains { $0.hasPrefix("entered the kernel from user mode") })
    }

    @Test func panickedTaskFromEveryWayIn() throws {
        let fx = try LabFixture.load("panicked")
        let facts = try Self.facts(fx)
        let comm = try #require(facts.panicComm)
        let pid = try #require(facts.pids[comm])
        let out = try Self.json(fx, ["bt", "bt \(pid)", "bt -a"])
        try #require(out.count == 3)
        // A bare `bt` is the panicking CPU's task.
        checkPanicTrace(out[0], comm: comm)
        checkPanicTrace(out[1], comm: comm)
        #expect(out[1]["pid"] as? Int == pid)
        let all = try #require(out[2]["backtraces"] as? [[String: Any]])
        #expect(all.count == 2)
        let panicking = try #require(all.first { $0["comm"] as? String == comm })
        checkPanicTrace(panicking, comm: comm)
        // The other CPU was stopped by panic() through an IPI: its trace crosses from
        // the IRQ stack (stop_this_cpu) back to its idle task's stack through pt_regs.
        let other = try #require(all.first { $0["comm"] as? String != comm })
        let names = Self.functions(other)
        #expect(Self.inOrder(["stop_this_cpu", "sysvec_reboot", "asm_sysvec_reboot", "do_idle"], in: names), "frames: \(names)")
        #expect(Self.frames(other).contains { $0["method"] as? String == "pt_regs" })
    }

    @Test func panickedTaskText() throws {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["-c", fx.elf, "-e", "bt"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("PID: ") == true)
        #expect(lines.contains { $0.hasPrefix("#0  0xffffffffc") && $0.hasSuffix(" [pvpanic]") }, "\(r.out)")
        #expect(lines.contains { $0.contains(" in panic+0x") && $0.contains(" at kernel/panic.c:") }, "\(r.out)")
        #expect(lines.contains { $0.contains(" (inlined) at ") }, "\(r.out)")
        #expect(lines.last?.hasPrefix("-- entered the kernel from user mode") == true)
    }

    /// `mod -s pvpanic` loads the module's DWARF (the ET_REL .ko, relocated by
    /// libdwfl): its frames get file:line and the functions inlined there, as
    /// `addr2line -i` on the .ko gives them for the same offsets (6.1 stops in
    /// pvpanic_send_event inlined into pvpanic_panic_notify; 6.12 in its
    /// out-of-line clone pvpanic_send_event.part.0); `info line` finds its functions.
    @Test func moduleDebugInfoGivesModuleFramesTheirLines() throws {
        let fx = try LabFixture.load("panicked")
        let with = try runMkdbg(["-c", fx.elf, "-e", "mod -s pvpanic", "-e", "bt", "-e", "info line pvpanic_panic_notify"])
        #expect(with.status == 0, "stderr: \(with.err)")
        let lines = with.out.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("module pvpanic at ") }, "\(with.out)")
        let base = try #require(UInt64(header.components(separatedBy: ", base ").last ?? "", radix: 16), "\(header)")
        let ko = try #require(lines.first { $0.hasPrefix("debug file ") }.map { String($0.dropFirst("debug file ".count)) })
        let path = ko.hasPrefix("/") ? ko : LabFixture.projectRoot + "/" + ko
        // The frames by pc: the module's real frame and the ones inlined at the same pc before it.
        let frames = lines.filter { $0.hasPrefix("#") }
        func pc(_ line: String) -> UInt64? { UInt64(line.split(separator: " ").first { $0.hasPrefix("0x") }?.dropFirst(2) ?? "", radix: 16) }
        var checked = 0, index = 0
        while index < frames.count, let at = pc(frames[index]), at >= base, at - base < 0x10000 {
            let group = frames[index...].prefix { pc($0) == at }
            // Frame 0 stopped at its pc; a caller's pc is a return address: its call is the byte before.
            let offset = (index == 0 ? at : at - 1) - base
            let oracle = try DisassemblyTests.tool("addr2line", ["-i", "-e", path, "0x" + String(offset, radix: 16)])
                .split(separator: "\n").compactMap { $0.split(separator: "/").last.map(String.init) }
                .map { $0.components(separatedBy: " (discriminator").first ?? $0 }
            #expect(group.map { $0.components(separatedBy: " at drivers/misc/pvpanic/").last ?? "" } == oracle,
                    "frames \(Array(group)) vs addr2line -i \(oracle) at .text+\(String(offset, radix: 16))")
            #expect(group.last?.contains(" [pvpanic] at ") == true && group.dropLast().allSatisfy { $0.contains(" (inlined) at ") })
            checked += group.count
            index += group.count
        }
        #expect(checked >= 2, "\(with.out)")
        #expect(index < frames.count && frames[index].contains("notifier_call_chain"), "\(frames)")
        let start = try #require(try DisassemblyTests.tool("nm", [path]).split(separator: "\n")
            .first { $0.hasSuffix(" pvpanic_panic_notify") }.flatMap { UInt64($0.prefix { $0 != " " }, radix: 16) })
        let definition = try #require(try DisassemblyTests.tool("addr2line", ["-e", path, "0x" + String(start, radix: 16)])
            .split(separator: ":").last?.prefix { $0.isNumber })
        #expect(lines.contains { $0.hasPrefix("Line \(definition) of \"drivers/misc/pvpanic/pvpanic.c\" is the definition of pvpanic_panic_notify [pvpanic], which starts at address 0x" + String(base + start, radix: 16))
            && $0.hasSuffix(" <pvpanic_panic_notify>.") }, "\(with.out)")

        // Without mod -s: named from kallsyms, no file:line; info line does not know the function.
        let without = try Self.json(fx, ["bt", "info line pvpanic_panic_notify"])
        let first = try #require(Self.frames(without[0]).first)
        #expect((first["function"] as? String)?.hasPrefix("pvpanic_") == true, "\(first)")
        #expect(first["module"] as? String == "pvpanic")
        #expect(first["file"] is NSNull && first["line"] is NSNull, "\(first)")
        #expect(without[1]["ok"] as? Bool == false)

        // A module that is not loaded is a clear error.
        let bad = try runMkdbg(["-c", fx.elf, "-e", "mod -s no_such_module"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("mod: no module no_such_module is loaded (loaded: "), "\(bad.err)")
    }

    @Test(arguments: ["running", "panicked"])
    func sleepingTasksStartInTheScheduler(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let facts = try Self.facts(fx)
        let pids = [1] + [facts.pids["mk-sleeper"]].compactMap { $0 }
        #expect(pids.count == 2, "facts.json names no mk-sleeper")
        let out = try Self.json(fx, pids.map { "bt \($0)" })
        for (pid, bt) in zip(pids, out) {
            #expect(bt["ok"] as? Bool == true, "\(bt)")
            #expect(bt["active"] as? Bool == false)
            let frames = Self.frames(bt)
            // The first real frame is the scheduler (context_switch is inlined into __schedule).
            let firstReal = frames.first { $0["inline"] as? Bool == false }
            #expect(["__schedule", "schedule"].contains(firstReal?["function"] as? String ?? ""), "PID \(pid): \(Self.functions(bt))")
            #expect(Self.inOrder(["__schedule", "schedule"], in: Self.functions(bt)))
            #expect(frames.first?["file"] as? String == "kernel/sched/core.c")
            // Stack pointers grow outwards on one stack.
            let sps = frames.compactMap { ($0["sp"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) } }
            #expect(sps == sps.sorted(), "PID \(pid): sp not increasing")
        }
    }

    @Test func idleCPUsOnTheRunningDump() throws {
        let fx = try LabFixture.load("running")
        let out = try Self.json(fx, ["bt -a"])
        let all = try #require(out.first?["backtraces"] as? [[String: Any]])
        #expect(all.count == 2)
        for (cpu, bt) in all.enumerated() {
            #expect(bt["cpu"] as? Int == cpu)
            #expect(bt["pid"] as? Int == 0)
            #expect(bt["comm"] as? String == "swapper/\(cpu)")
            let names = Self.functions(bt)
            #expect(Self.inOrder(["default_idle_call", "do_idle", "cpu_startup_entry"], in: names), "\(names)")
            #expect(names.last == "secondary_startup_64", "\(names)")
        }
    }

    /// The kdump-compressed dumps carry the same NT_PRSTATUS notes and memory.
    @Test func kdumpDumpsGiveTheSameTraces() throws {
        let fx = try LabFixture.load("panicked")
        func frames(_ image: String) throws -> [[String]] {
            let all = try #require(try Self.json(fx, ["bt -a"], image: image).first?["backtraces"] as? [[String: Any]])
            return all.map { bt in Self.frames(bt).map { "\($0["pc"] ?? "") \($0["sp"] ?? "") \($0["function"] ?? "")" } }
        }
        let elf = try frames(fx.elf)
        #expect(elf.count == 2 && elf.allSatisfy { $0.count > 5 })
        #expect(try frames(fx.kdump) == elf)
        #expect(try frames(fx.kdumpFlat) == elf)
    }

    @Test func unknownPIDIsAClearError() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-e", "bt 999999"])
        #expect(r.status != 0)
        #expect(r.err.contains("no task with PID 999999"), "stderr: \(r.err)")
        let bad = try runMkdbg(["-c", fx.elf, "-e", "bt -7", "-e", "bt notapid", "-e", "bt 1 2"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("-7 is not a PID"), "stderr: \(bad.err)")
        #expect(bad.err.contains("notapid is neither a PID nor a task address"), "stderr: \(bad.err)")
        #expect(bad.err.contains("expected at most one"), "stderr: \(bad.err)")
    }

    @Test func badTaskAddressesEndWithANote() throws {
        let fx = try LabFixture.load("running")
        let start = Date()
        // Unmapped: a clear error, no walk.
        let unmapped = try runMkdbg(["-c", fx.elf, "-e", "bt 0xffff888000000000"])
        #expect(unmapped.status != 0)
        #expect(unmapped.err.contains("cannot read a task_struct at 0xffff888000000000"), "stderr: \(unmapped.err)")
        // Readable memory that is no task: kernel data, the direct map, kernel code.
        let t = try fx.target()
        let symbols = try t.requireSymbols()
        let direct = try #require(t.memory.layout?.pageOffsetBase) &+ 0x100_0000
        let addresses = [try symbols.require("init_uts_ns").address, direct, try symbols.require("schedule").address]
        let out = try Self.json(fx, addresses.map { "bt \(hex($0))" })
        try #require(out.count == addresses.count)
        for (a, bt) in zip(addresses, out) {
            let notes = bt["notes"] as? [String] ?? []
            #expect(notes.first == "\(hex(a)) is not a task on the task list; reading it as a task_struct anyway", "\(bt)")
            #expect(notes.count >= 2, "the walk at \(hex(a)) ended without saying why: \(bt)")
            #expect(Self.frames(bt).count < 128)
        }
        #expect(Date().timeIntervalSince(start) < 60)
    }

    /// Walks started from every word of a real task's stack as if it were a
    /// frame: each ends (within the bounds) with a note, none hangs or traps.
    @Test func walksFromGarbageAreBounded() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let kernel = try session.kernel()
        let tracer = try Backtracer(kernel: kernel)
        let task = try tracer.task(pid: 1)
        let stack = try kernel.object(try kernel.type("struct task_struct"), at: task)["stack"].unsigned()
        let size = 16384
        let words = try kernel.memory.readVirtual(stack, count: size)
        var longest = 0
        for slot in stride(from: 0, to: size - 16, by: 8) {
            var regs = RegisterSet()
            regs.sp = stack &+ UInt64(slot) &+ 8
            regs.pc = words.loadLE64(at: slot)
            regs.bp = words.loadLE64(at: slot + 8)
            regs.cs = 0x10
            let (frames, notes, complete) = tracer.walk(from: regs, pcIsReturnAddress: true, names: false)
            longest = max(longest, frames.count)
            #expect(frames.count <= 128)
            // Every walk says why it stopped, unless ORC said the stack ended there.
            #expect(!notes.isEmpty || complete, "slot \(slot): no note after \(frames.count) frames")
        }
        #expect(longest > 3, "no start inside the stack produced a walk")
    }

    /// DWARF CFI alone (no ORC) walks a sleeping task's kernel stack through
    /// the same C functions ORC finds.
    @Test func dwarfCFIAloneAgreesWithORC() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let tracer = try Backtracer(kernel: try session.kernel())
        let task = try tracer.task(pid: 1)
        let orc = try tracer.backtrace(task: task)
        tracer.methods = [.dwarfCFI]
        let cfi = try tracer.backtrace(task: task)
        let orcNames = orc.frames.map { $0.function ?? "??" }
        let cfiNames = cfi.frames.map { $0.function ?? "??" }
        #expect(cfiNames.count >= 6, "CFI: \(cfiNames); notes \(cfi.notes)")
        #expect(Array(orcNames.prefix(cfiNames.count)) == cfiNames, "ORC \(orcNames) / CFI \(cfiNames)")
        #expect(zip(orc.frames, cfi.frames).allSatisfy { $0.sp == $1.sp && $0.pc == $1.pc })
        #expect(cfi.frames.dropFirst().contains { $0.method == "dwarf-cfi" })
    }

    /// Frame pointers alone: whatever they find is marked as a guess.
    @Test func framePointerFramesAreMarkedUnreliable() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let tracer = try Backtracer(kernel: try session.kernel())
        tracer.methods = [.framePointer]
        let bt = try tracer.backtrace(task: try tracer.task(pid: 1))
        let guessed = bt.frames.filter { $0.method == "frame-pointer" }
        #expect(!guessed.isEmpty, "frames: \(bt.frames.map { $0.function ?? "??" }); notes \(bt.notes)")
        #expect(guessed.allSatisfy { !$0.reliable })
        #expect(bt.frames.first?.reliable == true)
    }

    @Test func orcEntryLayoutComesFromDWARF() throws {
        let fx = try LabFixture.load("running")
        let d = try fx.target().requireDebugInfo()
        var f = d.orcFormat
        #expect(f.source == "struct orc_entry from DWARF")
        f.source = OrcFormat.linux61.source
        if fx.atLeast(6, 4) {
            // Since 6.4 the type has 3 bits and the `end` bit gave way to `signal` (bit 43).
            var want = OrcFormat.linux61
            want.type = OrcFormat.field("type", bit: 40, width: 3)
            want.end = nil
            want.signal = OrcFormat.field("signal", bit: 43, width: 1)
            #expect(f == want)
        } else {
            #expect(f == OrcFormat.linux61)
        }
        let table = try d.vmlinuxOrcTable()
        #expect(table.count > 100_000)
        #expect(table.addresses == table.addresses.sorted())
    }

    @Test func jsonShape() throws {
        let fx = try LabFixture.load("running")
        let out = try Self.json(fx, ["bt 1"])
        let bt = try #require(out.first)
        for key in ["command", "name", "ok", "task", "pid", "comm", "cpu", "active", "frames", "notes"] {
            #expect(bt[key] != nil, "missing \(key)")
        }
        #expect(bt["name"] as? String == "bt")
        let frame = try #require(Self.frames(bt).first)
        for key in ["index", "pc", "sp", "function", "symbol", "offset", "file", "line", "module", "inline", "reliable", "method"] {
            #expect(frame[key] != nil, "frame misses \(key)")
        }
        #expect((frame["pc"] as? String)?.hasPrefix("0xffffffff") == true)
    }
}
