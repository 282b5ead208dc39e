import Testing
import Foundation
import MKCommands
import MKKernel

/// `$pc`/`$sp`/`$rip…`, `info registers`, `info frame` and `bt -f` on the
/// panicked dump, checked against `bt`, the memory (`x/gx`), and the CPU's
/// `NT_PRSTATUS` note read by a reader of this file's own (and by gdb,
/// when it is installed).
@Suite(.serialized) struct FrameRegistersTests {
    func session() throws -> Session { Session(target: try LabFixture.load("panicked").target()) }

    /// The command's fields as Foundation values (numbers keep all 64 bits).
    func json(_ session: Session, _ command: String) throws -> [String: Any] {
        let out = try session.execute(command)
        return try #require(Self.foundation(.object(out.fields)) as? [String: Any])
    }

    static func foundation(_ v: JSONValue) -> Any {
        switch v {
        case .null: return NSNull()
        case let .bool(b): return b
        case let .int(i): return NSNumber(value: i)
        case let .uint(u): return NSNumber(value: u)
        case let .double(d): return d
        case let .string(s): return s
        case let .array(a): return a.map(foundation)
        case let .object(fields): return Dictionary(fields.map { ($0.0, foundation($0.1)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func number(_ s: Any?) -> UInt64? {
        guard let s = s as? String, s.hasPrefix("0x") else { return nil }
        return UInt64(s.dropFirst(2), radix: 16)
    }

    /// The first 0x… number after `prefix` in `text`.
    func hexAfter(_ prefix: String, in text: String) -> UInt64? {
        guard let r = text.range(of: prefix) else { return nil }
        let rest = text[r.upperBound...].drop { $0 == " " }
        guard rest.hasPrefix("0x") else { return nil }
        return UInt64(String(rest.dropFirst(2).prefix { $0.isHexDigit }), radix: 16)
    }

    func frames(_ session: Session) throws -> [[String: Any]] {
        try #require(try json(session, "bt")["frames"] as? [[String: Any]])
    }

    @Test func pcAndSpAreTheSelectedFramesRegisters() throws {
        let s = try session()
        let bt = try frames(s)
        #expect(bt.count > 5)
        let pc0 = try #require(number(bt[0]["pc"]))
        #expect(try s.execute("p/x $rip").text.hasSuffix("= 0x" + String(pc0, radix: 16)))
        #expect(try s.execute("p/x $pc").text.hasSuffix("= 0x" + String(pc0, radix: 16)))
        // panic() is frame 3 on 6.1, 5 on 6.12 (below vpanic).
        let p = try #require(bt.firstIndex { $0["function"] as? String == "panic" }, "\(bt)")
        _ = try s.execute("frame \(p)")
        let pc3 = try #require(number(bt[p]["pc"])), sp3 = try #require(number(bt[p]["sp"]))
        let offset = try #require((bt[p]["offset"] as? NSNumber)?.intValue)
        #expect(try s.execute("p $pc").text.hasSuffix("= (void (*)()) 0x\(String(pc3, radix: 16)) <panic+\(offset)>"))
        #expect(try s.execute("p $sp").text.hasSuffix("= (void *) 0x\(String(sp3, radix: 16))"))
        #expect(try s.execute("p $rsp == $sp && $rbp == $fp").text.hasSuffix("= 1"))
        // A register the frame did not save is an error, not 0.
        #expect { try s.execute("p $rax") } throws: { "\($0)".contains("$rax is not saved in frame \(p)") }
        // Not a register: the evaluator goes on (and finds no such variable).
        #expect { try s.execute("p $nosuchreg") } throws: { !"\($0)".contains("not saved") }
        // frame N changes what $sp means.
        _ = try s.execute("frame \(p + 1)")
        let sp4 = try #require(number(bt[p + 1]["sp"]))
        #expect(try s.execute("p/x $sp").text.hasSuffix("= 0x" + String(sp4, radix: 16)))
    }

    /// Frame 0 of the panicking task is its CPU's NT_PRSTATUS note, read here by an ELF reader of this test's own.
    @Test func frameZeroRegistersAreTheNote() throws {
        let fixture = try LabFixture.load("panicked")
        let s = try session()
        let out = try json(s, "info registers")
        let regs = try #require(out["registers"] as? [String: Any])
        let cpu = try #require((try json(s, "bt")["cpu"] as? NSNumber)?.intValue)
        let notes = try PrStatusNotes.read(fixture.elf)
        #expect(notes.count > cpu)
        let note = notes[cpu]
        var checked = 0
        for name in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
                     "r14", "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"] {
            let want = try #require(note[name], "\(name)")
            #expect((regs[name] as? NSNumber)?.uint64Value == want, "\(name): \(String(describing: regs[name])) vs \(hexText(want))")
            checked += 1
        }
        #expect(checked == 26)
        // The text layout: gdb's columns, and the pc named.
        let text = try s.execute("info registers").text
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 26)
        #expect(lines.first == "rax".padding(toLength: 15, withPad: " ", startingAt: 0)
                + hexText(note["rax"] ?? 0).padding(toLength: 20, withPad: " ", startingAt: 0) + String(Int64(bitPattern: note["rax"] ?? 0)))
        #expect(lines.contains { $0.hasPrefix("rip            ") && $0.contains(" [pvpanic]>") })
        #expect(lines.contains { $0.hasPrefix("eflags         ") && $0.hasSuffix("]") })
        // gdb reads the same note without a vmlinux (its thread N is the note's CPU N-1 on a QEMU core).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") {
            let gdb = String(decoding: try runProgram("/usr/bin/gdb", ["-nx", "-batch", "-ex", "thread \(cpu + 1)", "-ex", "info registers", "-c", fixture.elf]).out,
                             as: UTF8.self)
            let gdbLines = gdb.split(separator: "\n").map(String.init).filter { $0.range(of: #"^[a-z0-9_]+ +0x"#, options: .regularExpression) != nil }
            #expect(gdbLines.count >= 24, "\(gdb)")
            for g in gdbLines {
                let name = String(g.prefix { $0 != " " })
                guard let mine = lines.first(where: { $0.hasPrefix(name + " ") }) else { continue }
                // gdb has no symbols here, so compare up to the symbol.
                let strip = { (l: String) in l.components(separatedBy: " <").first ?? l }
                #expect(strip(mine) == strip(g), "mkdbg \(mine) / gdb \(g)")
            }
        }
    }

    @Test func namedRegistersAndUsage() throws {
        let s = try session()
        let all = try s.execute("info registers").text.split(separator: "\n").map(String.init)
        let rip = try #require(all.first { $0.hasPrefix("rip ") })
        #expect(try s.execute("i r $rip").text == rip)
        #expect(try s.execute("info reg pc").text == "pc " + rip.dropFirst(3))
        #expect(try s.execute("info registers rsp rbx").text.split(separator: "\n").count == 2)
        #expect(throws: CommandError.self) { try s.execute("info registers nosuch") }
        #expect(try s.execute("help info registers").text.contains("usage: info registers [REG...]"))
        // An outer frame: callee-clobbered registers are not saved.
        _ = try s.execute("frame 3")
        #expect(try s.execute("info registers rax").text == "rax            <not saved>")
    }

    /// info frame: the CFA is the caller's sp (a call frame), the saved pc
    /// is the caller's pc and is in the slot it names, and every saved
    /// register holds what the caller's `info registers` says.
    @Test func infoFrameSlotsHoldTheCallersRegisters() throws {
        let s = try session()
        let bt = try frames(s)
        var checkedSlots = 0
        for i in 0..<(bt.count - 1) where bt[i]["inline"] as? Bool == false && bt[i + 1]["method"] as? String == "orc" {
            _ = try s.execute("frame \(i)")
            let info = try json(s, "info frame")
            let cfa = try #require(number(info["cfa"]))
            #expect(cfa == number(bt[i + 1]["sp"]), "frame \(i): CFA \(hexText(cfa))")
            #expect(number(info["saved_pc"]) == number(bt[i + 1]["pc"]))
            let slots = try #require(info["saved_registers"] as? [String: Any])
            _ = try s.execute("frame \(i + 1)")
            let caller = try #require(try json(s, "info registers")["registers"] as? [String: Any])
            for (name, address) in slots {
                let a = try #require(number(address))
                let word = try s.execute("x/gx \(hexText(a))").text
                let value = try #require(hexAfter(":", in: word.replacingOccurrences(of: "\t", with: " ")))
                #expect((caller[name] as? NSNumber)?.uint64Value == value, "frame \(i) \(name) at \(hexText(a))")
                checkedSlots += 1
            }
        }
        #expect(checkedSlots > 10)
        // The first inlined frame (notifier_call_chain on 6.1, pde_write on 6.12).
        let all = try frames(s)
        let i = try #require(all.firstIndex { $0["inline"] as? Bool == true }, "\(all)")
        _ = try s.execute("frame \(i)")
        let inline = try s.execute("info frame").text
        #expect(inline.contains("inlined into frame \(i + 1)") && inline.hasPrefix("Stack level \(i), frame at 0x"), "\(inline)")
    }

    /// bt -f: the words are the memory (x/2gx at the same address) and cover each frame from its sp to its caller's.
    @Test func btFullWordsAreTheMemory() throws {
        let s = try session()
        let text = try s.execute("bt -f").text
        let wordLines = text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("    ") && $0.contains(":  ") }
        #expect(wordLines.count > 20)
        for line in wordLines.prefix(40) {
            let parts = line.trimmingCharacters(in: .whitespaces).components(separatedBy: ":  ")
            let words = parts[1].split(separator: " ").filter { !$0.hasPrefix("<") && $0.count == 16 }
            let x = try s.execute("x/\(words.count)gx 0x\(parts[0])").text
            let values = x.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map { String($0.dropFirst(2)) }
            #expect(values.map { $0.leftPaddedHex } == words.map(String.init), "\(line) / \(x)")
        }
        #expect(text.contains("<panic+"), "text words are named")
        let out = try json(s, "bt -f")
        let ranges = try #require(out["stack_words"] as? [[String: Any]])
        let bt = try #require(out["frames"] as? [[String: Any]])
        let real = bt.filter { $0["inline"] as? Bool == false }
        #expect(ranges.count == real.count)
        for (r, next) in zip(ranges, ranges.dropFirst()) {
            let start = try #require(number(r["address"])), nextStart = try #require(number(next["address"]))
            let count = UInt64((r["words"] as? [Any])?.count ?? 0) + UInt64((r["cut"] as? NSNumber)?.intValue ?? 0)
            if nextStart > start && nextStart - start <= 16384 { #expect(start + 8 * count == nextStart) }
        }
    }

    /// Where nothing says where a function saved the callee-saved
    /// registers (module code without CFI, a frame-pointer guess), the
    /// caller has them `<not saved>`, not the callee's values.
    @Test func unknownSlotsAreNotSaved() throws {
        let s = try session()
        let bt = try frames(s)
        // Frame 0 is pvpanic's (a module: ORC, no CFI); frame 2 is its caller.
        #expect(bt[0]["module"] as? String == "pvpanic" && bt[2]["inline"] as? Bool == false)
        _ = try s.execute("frame 2")
        let regs = try #require(try json(s, "info registers")["registers"] as? [String: Any])
        #expect(regs["rbx"] is NSNull && regs["r12"] is NSNull && !(regs["rbp"] is NSNull) && !(regs["rip"] is NSNull))

        let fx = try LabFixture.load("running")
        let tracer = try Backtracer(kernel: try Session(target: try fx.target()).kernel())
        tracer.methods = [.framePointer]
        let guessed = try tracer.backtrace(task: try tracer.task(pid: 1)).frames.filter { $0.method == "frame-pointer" }
        #expect(!guessed.isEmpty)
        #expect(guessed.allSatisfy { $0.registers[X86_64Architecture.rbx] == nil && $0.registers.bp != nil })
        #expect(guessed.allSatisfy { $0.saved.slots.isEmpty || $0.saved.slots[X86_64Architecture.rip] != nil })
    }

    @Test func sleepingTaskFrameZeroIsItsSwitchFrame() throws {
        let s = try session()
        let bt = try #require(try json(s, "bt 1")["frames"] as? [[String: Any]])
        let regs = try #require(try json(s, "info registers")["registers"] as? [String: Any])
        #expect((regs["rip"] as? NSNumber)?.uint64Value == number(bt[0]["pc"]))
        #expect((regs["rsp"] as? NSNumber)?.uint64Value == number(bt[0]["sp"]))
        #expect(regs["rax"] is NSNull && regs["eflags"] is NSNull && !(regs["rbx"] is NSNull))
    }
}

private func hexText(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

private extension String {
    var leftPaddedHex: String { String(repeating: "0", count: max(0, 16 - count)) + self }
}

/// NT_PRSTATUS notes of an ELF core, read with nothing of mkdbg's: the
/// ELF64 header's program headers, each PT_NOTE's notes, `pr_reg` at 112
/// in x86-64's `user_regs_struct` order.
enum PrStatusNotes {
    static let order = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
                        "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"]

    static func read(_ path: String) throws -> [[String: UInt64]] {
        let h = try #require(FileHandle(forReadingAtPath: path))
        defer { try? h.close() }
        func bytes(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
            try h.seek(toOffset: offset)
            return [UInt8](try #require(try h.read(upToCount: count)))
        }
        func u(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        let eh = try bytes(0, 64)
        let phoff = u(eh, 32, 8), phentsize = Int(u(eh, 54, 2)), phnum = Int(u(eh, 56, 2))
        var result: [[String: UInt64]] = []
        for i in 0..<phnum {
            let ph = try bytes(phoff + UInt64(i * phentsize), phentsize)
            guard u(ph, 0, 4) == 4 else { continue } // PT_NOTE
            let data = try bytes(u(ph, 8, 8), Int(u(ph, 32, 8)))
            var at = 0
            while at + 12 <= data.count {
                let namesz = Int(u(data, at, 4)), descsz = Int(u(data, at + 4, 4)), type = u(data, at + 8, 4)
                let desc = at + 12 + (namesz + 3) / 4 * 4
                if type == 1, desc + 112 + 27 * 8 <= data.count {
                    var regs: [String: UInt64] = [:]
                    for (k, name) in order.enumerated() { regs[name] = u(data, desc + 112 + 8 * k, 8) }
                    result.append(regs)
                }
                at = desc + (descsz + 3) / 4 * 4
            }
        }
        return result
    }
}
