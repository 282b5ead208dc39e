import Testing
import Foundation
import MKFormat
import MKDebugInfo
import MKCommands
import MKRepl

/// `dis`, `disassemble` and `x/i` on the panicked dump, against objdump
/// and addr2line on the vmlinux (relocated by the KASLR offset): the same
/// instruction boundaries and bytes wherever the kernel did not patch its
/// code at boot, the same mnemonics where capstone and objdump spell them
/// alike, the line table's positions; module code; errors; JSON.
@Suite(.serialized) struct DisassemblyTests {
    /// A binutils tool's standard output.
    static func tool(_ name: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/" + name)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FixtureError("\(name) \(arguments.joined(separator: " ")) failed: \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    static func json(_ fx: LabFixture, _ commands: [String]) throws -> [[String: Any]] {
        try BacktraceTests.json(fx, commands)
    }

    static func number(_ v: Any?) -> UInt64? {
        guard let s = v as? String, s.hasPrefix("0x") else { return nil }
        return UInt64(s.dropFirst(2), radix: 16)
    }

    /// objdump's instructions in [start, stop) at link addresses: address, bytes, mnemonic.
    static func objdump(_ vmlinux: String, _ start: UInt64, _ stop: UInt64) throws -> [(UInt64, [UInt8], String)] {
        let text = try tool("objdump", ["-d", "--insn-width=16", "--start-address=0x" + String(start, radix: 16),
                                        "--stop-address=0x" + String(stop, radix: 16), vmlinux])
        var out: [(UInt64, [UInt8], String)] = []
        for line in text.split(separator: "\n") {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count >= 3, cols[0].hasSuffix(":"),
                  let a = UInt64(cols[0].dropLast().trimmingCharacters(in: .whitespaces), radix: 16) else { continue }
            let bytes = cols[1].split(separator: " ").compactMap { UInt8($0, radix: 16) }
            // objdump writes redundant prefixes of padding as words (`data16 cs nopw`); capstone puts the
            // segment among the operands (`nopw %cs:0x0(%rax,%rax)`).
            let redundant: Set<Substring> = ["data16", "cs", "ds", "ss", "es"]
            let words = cols[2].split(separator: " ").drop { redundant.contains($0) }
            // A lock or rep prefix is part of the mnemonic (`lock cmpxchg`, `rep stos`), as capstone writes it.
            let prefixes: Set<Substring> = ["lock", "rep", "repz", "repnz", "repe", "repne", "notrack", "bnd"]
            var mnemonic = words.first.map(String.init) ?? ""
            if let f = words.first, prefixes.contains(f), words.count > 1 { mnemonic += " " + words[words.startIndex + 1] }
            out.append((a, bytes, mnemonic))
        }
        return out
    }

    /// How a listing from memory compares with objdump on the file.
    struct Comparison {
        var instructions = 0, objdump = 0, relocated = 0, sameSpelling = 0
        var patched: [String] = []
        var differences: [String] = []
    }

    /// Compares dis's `--json` instructions with objdump's over the same link range:
    /// every objdump instruction is one of dis's, with the same bytes, or bytes moved by
    /// KASLR in one 4-byte field, or lies in code patched at boot; every boundary dis
    /// has that objdump has not lies in such patched code; mnemonics agree but for
    /// capstone's AT&T suffixes objdump drops and its `nop` for 66 90.
    static func compare(_ insns: [[String: Any]], _ file: [(UInt64, [UInt8], String)], kaslr: UInt64) throws -> Comparison {
        var c = Comparison(instructions: insns.count, objdump: file.count)
        var memory: [UInt64: (bytes: [UInt8], mnemonic: String)] = [:]
        for i in insns {
            let a = try #require(Self.number(i["address"]))
            memory[a] = ((i["bytes"] as? String ?? "").split(separator: " ").compactMap { UInt8($0, radix: 16) },
                         i["mnemonic"] as? String ?? "")
        }
        var fileStarts: Set<UInt64> = []
        var patchedRanges: [Range<UInt64>] = []
        for (linkAddress, bytes, mnemonic) in file {
            let a = linkAddress &+ kaslr
            fileStarts.insert(a)
            let m = memory[a]
            if m?.bytes != bytes {
                if let m, Self.relocated(bytes, m.bytes, by: kaslr) {
                    // KASLR moved an absolute address or a %gs offset in it: the same instruction.
                    c.relocated += 1
                } else {
                    // Patched at boot (the __fentry__ call, paravirt calls, alternatives): what ran is not the file's.
                    c.patched.append("\(hex(a)) \(mnemonic) → \(m?.mnemonic ?? "no instruction")")
                    patchedRanges.append(a..<(a + UInt64(bytes.count)))
                    continue
                }
            }
            let spelled = try #require(m, "objdump's instruction at \(hex(a)) starts no instruction of dis").mnemonic
            if spelled == mnemonic {
                c.sameSpelling += 1
            } else {
                c.differences.append("\(hex(a)): objdump \(mnemonic), capstone \(spelled)")
                let suffix = spelled.count == mnemonic.count + 1 && spelled.hasPrefix(mnemonic) && "bwlq".contains(spelled.last ?? " ")
                #expect(suffix || (mnemonic == "xchg" && spelled == "nop" && bytes == [0x66, 0x90]), "\(c.differences.last ?? "")")
            }
        }
        for a in memory.keys where !fileStarts.contains(a) {
            #expect(patchedRanges.contains { $0.contains(a) }, "dis has an instruction at \(hex(a)) in unpatched code")
        }
        return c
    }

    @Test func disPanicHasObjdumpsBoundariesAndMnemonics() throws {
        let fx = try LabFixture.load("panicked")
        let out = try Self.json(fx, ["dis \(fx.panicBody)"])
        try #require(out.count == 1 && out[0]["ok"] as? Bool == true, "\(out)")
        let insns = try #require(out[0]["instructions"] as? [[String: Any]])
        let kaslr = try #require(try fx.target().symbols?.kaslrOffset)
        let start = try #require(Self.number(out[0]["start"])), end = try #require(Self.number(out[0]["end"]))
        let file = try Self.objdump(fx.vmlinux, start &- kaslr, end &- kaslr)
        try #require(file.count > 100, "objdump gave \(file.count) instructions")
        // The listing covers the symbol exactly: objdump's first and last instructions, relocated.
        #expect(Self.number(insns.first?["address"]) == file[0].0 &+ kaslr)
        #expect(end == file[file.count - 1].0 &+ kaslr &+ UInt64(file[file.count - 1].1.count))
        let c = try Self.compare(insns, file, kaslr: kaslr)
        // panic()'s __fentry__ call and the paravirt calls of local_irq_disable/enable (now cli, sti).
        #expect(c.patched.count >= 3 && c.patched.count <= 8, "patched: \(c.patched)")
        #expect(c.relocated > 0)
        #expect(c.differences.count <= 3, "\(c.differences)")
        print("dis \(fx.panicBody): \(c.instructions) instructions; objdump \(c.objdump): \(c.relocated) relocated by KASLR, "
              + "\(c.patched.count) patched at boot \(c.patched); \(c.sameSpelling) mnemonics spelled alike, "
              + "\(c.differences.count) not: \(c.differences)")
    }

    /// A linear sweep over 64 KiB of text from `schedule` (many functions and the
    /// padding between them) against one objdump over the same bytes of the file.
    @Test func disassembleOfMuchTextAgreesWithObjdump() throws {
        let fx = try LabFixture.load("panicked")
        let out = try Self.json(fx, ["disassemble schedule,+0x10000"])
        try #require(out.count == 1 && out[0]["ok"] as? Bool == true, "\(out.first ?? [:])")
        let insns = try #require(out[0]["instructions"] as? [[String: Any]])
        let kaslr = try #require(try fx.target().symbols?.kaslrOffset)
        let start = try #require(Self.number(out[0]["start"]))
        let last = try #require(insns.last.flatMap { Self.number($0["address"]) })
        let file = try Self.objdump(fx.vmlinux, start &- kaslr, last &- kaslr &+ 1)
        try #require(file.count > 5000, "objdump gave \(file.count) instructions")
        let c = try Self.compare(insns, file, kaslr: kaslr)
        // What boot rewrites: return thunks (jmp __x86_return_thunk → ret, many on 6.12), __fentry__
        // calls and sealed endbr64 (→ nops), static calls (a jmp or call to another target), padding.
        let unexplained = c.patched.filter { p in
            let kinds = p.split(separator: " ", maxSplits: 1).last.map { $0.components(separatedBy: " → ") } ?? []
            guard kinds.count == 2 else { return true }
            let (file, now) = (kinds[0], kinds[1])
            return !((file == "jmp" && now == "ret") || (["call", "endbr64", "nop"].contains(file) && now.hasPrefix("nop"))
                || (["jmp", "call"].contains(file) && now == file) || (file == "jmp" && now.hasPrefix("nop")))
        }
        #expect(unexplained.count < c.objdump / 100, "\(unexplained.count) of \(c.objdump) patched unlike boot patching: \(unexplained.prefix(10))")
        #expect(c.differences.count < c.objdump / 100)
        print("disassemble schedule,+0x10000: \(c.instructions) instructions; objdump \(c.objdump): \(c.relocated) relocated, "
              + "\(c.patched.count) patched; \(c.sameSpelling) mnemonics alike, \(c.differences.count) not "
              + "(\(Set(c.differences.map { $0.split(separator: " ", maxSplits: 1).last ?? "" }).sorted().prefix(5)))")
    }

    /// `memory` is `file` with one 4-byte little-endian field moved by the
    /// KASLR offset (an absolute address) or against it (a %gs: offset).
    static func relocated(_ file: [UInt8], _ memory: [UInt8], by kaslr: UInt64) -> Bool {
        guard file.count == memory.count, let first = file.indices.first(where: { file[$0] != memory[$0] }) else { return false }
        let k = UInt32(truncatingIfNeeded: kaslr)
        func le(_ b: [UInt8], _ j: Int) -> UInt32 {
            var v: UInt32 = 0
            for i in 0..<4 { v |= UInt32(b[j + i]) << UInt32(8 * i) }
            return v
        }
        for j in max(0, first - 3)...first where j + 4 <= file.count {
            let delta = le(memory, j) &- le(file, j)
            let rest = file.indices.allSatisfy { ($0 >= j && $0 < j + 4) || file[$0] == memory[$0] }
            if rest && (delta == k || delta == 0 &- k) { return true }
        }
        return false
    }

    @Test func disLShowsTheLineTablesPositions() throws {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["-c", fx.elf, "-e", "dis -l \(fx.panicBody)"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("kernel/panic.c:") == true, "\(lines.first ?? "")")
        #expect(lines.contains { $0.contains("  [inlined: ") && $0.hasSuffix(" <- \(fx.panicBody)]") }, "\(r.out)")
        // Each header against addr2line for the instruction under it (link address).
        let kaslr = try #require(try fx.target().symbols?.kaslrOffset)
        var headers: [(String, UInt64)] = []
        for (i, line) in lines.enumerated() where !line.hasPrefix("0x") && i + 1 < lines.count {
            let next = lines[i + 1]
            guard let a = UInt64(next.dropFirst(2).prefix { $0 != " " }, radix: 16) else { continue }
            headers.append((String(line.prefix { $0 != " " }), a &- kaslr))
        }
        try #require(headers.count > 20, "\(headers.count) headers")
        let answers = try Self.tool("addr2line", ["-e", fx.vmlinux] + headers.map { "0x" + String($0.1, radix: 16) })
            .split(separator: "\n").map(String.init)
        try #require(answers.count == headers.count)
        for (h, answer) in zip(headers, answers) {
            let oracle = answer.components(separatedBy: " (discriminator").first ?? answer
            #expect(oracle.hasSuffix("/" + h.0) || oracle == h.0, "dis -l says \(h.0), addr2line \(oracle)")
        }
    }

    @Test func examineInstructionsContinues() throws {
        let fx = try LabFixture.load("panicked")
        let session = Session(target: try fx.target())
        let first = try session.execute("x/3i panic")
        let lines = first.text.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("   0xffffffff") && lines[0].contains(" <panic>:\t"), "\(first.text)")
        let next = try #require(first.fields.first { $0.0 == "next" }?.1)
        let more = try session.execute("x")
        #expect(more.fields.first { $0.0 == "address" }?.1 == next)
        #expect(more.text.split(separator: "\n").count == 1 && more.text.contains("<panic+"), "\(more.text)")
        // Enter in the REPL repeats x/3i from where the last x stopped, as gdb.
        let enter = try #require(RepeatRule.repeatLine(after: "x/3i panic", session: session))
        #expect(enter == "x/3i")
        let after = try #require(more.fields.first { $0.0 == "next" }?.1)
        let repeated = try session.execute(enter)
        #expect(repeated.fields.first { $0.0 == "address" }?.1 == after)
        #expect(repeated.text.split(separator: "\n").count == 3)
        // Intel on request: the same instruction, the other way round (6.1's panic sets up a
        // frame pointer; 6.12's vpanic keeps its second argument in r12).
        _ = try session.execute("set disassembly-flavor intel")
        let (at, intel) = fx.panicBody == "panic" ? ("panic+6", "mov    rbp,rsp") : ("vpanic+13", "mov    r12,rsi")
        #expect(try session.execute("x/i \(at)").text.hasSuffix(intel))
    }

    /// The CPU stopped in the pvpanic module (pvpanic_panic_notify on 6.1, the
    /// pvpanic_send_event.part.0 clone it calls on 6.12): its function by kallsyms, the pc marked.
    @Test func moduleFunction() throws {
        let fx = try LabFixture.load("panicked")
        let bt = try Self.json(fx, ["bt"])
        let top = try #require(BacktraceTests.frames(bt[0]).first)
        let pc = try #require(Self.number(top["pc"]))
        let function = try #require(top["function"] as? String)
        #expect(function.hasPrefix("pvpanic_"), "\(top)")
        let out = try Self.json(fx, ["dis \(function)", "dis pvpanic_panic_notify"])
        try #require(out.count == 2)
        let dis = out[0]
        #expect(dis["module"] as? String == "pvpanic")
        let insns = try #require(dis["instructions"] as? [[String: Any]])
        let start = try #require(Self.number(dis["start"])), end = try #require(Self.number(dis["end"]))
        #expect(start <= pc && pc < end)
        let marked = insns.filter { $0["current"] as? Bool == true }
        #expect(marked.count == 1 && Self.number(marked.first?["address"]) == pc)
        #expect(insns.allSatisfy { ($0["symbol"] as? String)?.hasPrefix(function) == true })
        // It returns, or tail-calls out of the module (6.12's clone ends in jmp _raw_spin_unlock).
        #expect(insns.contains { $0["mnemonic"] as? String == "ret"
            || ($0["mnemonic"] as? String == "jmp" && ($0["target_symbol"] as? String)?.hasPrefix("_raw_spin_unlock") == true) })
        // Calls into the vmlinux are named.
        let notify = try #require(out[1]["instructions"] as? [[String: Any]])
        #expect(notify.contains { $0["mnemonic"] as? String == "call" && $0["target_symbol"] as? String == "_raw_spin_trylock" })
        // With the module's debug file, its source lines.
        let r = try runMkdbg(["-c", fx.elf, "-e", "mod -s pvpanic", "-e", "dis -l \(function)"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("drivers/misc/pvpanic/pvpanic.c:"), "\(r.out)")
        #expect(r.out.contains("=> 0x" + String(pc, radix: 16) + " <\(function)+"), "\(r.out)")
    }

    /// A running instance (the lab's `web`, read live through its kcore): the whole of `schedule`.
    @Test func liveInstance() throws {
        let lab = try MultikernelLab.load()
        let r = try lab.mkdbg(["--json", "--instance", "web", "-e", "sym schedule", "-e", "dis schedule"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let out = try r.out.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        try #require(out.count == 2)
        let start = try #require(Self.number(out[0]["address"]))
        let size = try #require(out[0]["size"] as? Int)
        let insns = try #require(out[1]["instructions"] as? [[String: Any]])
        #expect(Self.number(out[1]["start"]) == start && Self.number(out[1]["end"]) == start + UInt64(size))
        #expect(insns.count > 10 && insns.contains { $0["mnemonic"] as? String == "call" && $0["target_symbol"] as? String == "__schedule" })
    }

    @Test func unreadableCodeIsATypedError() throws {
        let fx = try LabFixture.load("panicked")
        let out = try Self.json(fx, ["dis 0x10 2", "x/2i 0x10", "dis no_such_function_here"])
        try #require(out.count == 3)
        let unknown = try #require(out[2]["error"] as? [String: Any])
        #expect(unknown["kind"] as? String == "unknown_symbol" && unknown["symbol"] as? String == "no_such_function_here")
        for o in out.prefix(2) {
            #expect(o["ok"] as? Bool == false)
            let e = try #require(o["error"] as? [String: Any])
            #expect(e["kind"] as? String == "unreadable_memory")
            #expect(e["address"] as? String == "0x10")
            #expect(e["level"] as? String == "code")
            #expect((e["message"] as? String)?.hasPrefix("cannot read code at 0x10: cannot access memory at address 0x10") == true, "\(e)")
        }
    }

    @Test func disassembleRangesAndJSONShape() throws {
        let fx = try LabFixture.load("panicked")
        // 6.1's panic: a 5-byte nop (__fentry__), push %rbp, mov %rsp,%rbp, push %r14, push %r13;
        // 6.12's vpanic: endbr64, the 5-byte nop, push %r13, push %r12 (objdump -d on each vmlinux).
        let f = fx.panicBody
        let (count, pushed, upTo, through) = f == "panic"
            ? (7, " <panic+5>:\t55\tpush   %rbp", "panic+6", ["panic", "panic+5", "panic+6"])
            : (6, " <vpanic+9>:\t41 55\tpush   %r13", "vpanic+11", ["vpanic", "vpanic+4", "vpanic+9", "vpanic+11"])
        let r = try runMkdbg(["-c", fx.elf, "-e", "disassemble /r \(f),+12"])
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("Dump of assembler code from 0xffffffff") == true)
        #expect(lines.last == "End of assembler dump.")
        #expect(lines.count == count, "\(r.out)")
        #expect(lines.contains { $0.hasSuffix(pushed) }, "\(r.out)")
        let out = try Self.json(fx, ["disassemble \(f)", "dis -r \(upTo)"])
        try #require(out.count == 2)
        #expect(Set(out[0].keys) == ["command", "name", "ok", "function", "module", "start", "end", "flavor", "instructions"])
        #expect(out[0]["function"] as? String == f && out[0]["flavor"] as? String == "att")
        let first = try #require((out[0]["instructions"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["address", "symbol", "bytes", "mnemonic", "operands", "target", "target_symbol",
                                    "reference", "reference_symbol", "current", "file", "line", "inlined"])
        // -r: from the start through the instruction at upTo.
        let reverse = try #require(out[1]["instructions"] as? [[String: Any]])
        #expect(reverse.map { $0["symbol"] as? String ?? "" } == through)
    }
}
