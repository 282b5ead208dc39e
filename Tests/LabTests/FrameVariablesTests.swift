import Testing
import Foundation
import MKCommands
import MKDebugInfo
import MKValues
@testable import MKKernel

/// Arguments and locals of the panicked dump's frames, checked against what
/// is known without DWARF locations: the lab's panicker runs
/// `echo c >/proc/sysrq-trigger` (a 2-byte write of "c\n"), and the
/// instructions before `panic`'s call load its format string.
@Suite(.serialized) struct FrameVariablesTests {
    struct Stack {
        let session: Session
        let kernel: Kernel
        let bt: Backtrace
        let reader: FrameVariableReader

        func frame(_ function: String) throws -> (Int, FrameVariables) {
            let i = try #require(bt.frames.firstIndex { $0.function == function }, "no \(function) in \(bt.frames.map(\.function))")
            return (i, reader.variables(of: bt, frame: i))
        }

        func integer(_ v: FrameVariable?) throws -> UInt64 {
            let v = try #require(v)
            #expect(!v.value.isOptimizedOut && v.error == nil, "\(v.name): \(v.unavailable ?? v.error ?? "")")
            return try v.value.integerBits(kernel.memory)
        }
    }

    func panickingStack() throws -> Stack {
        let session = Session(target: try LabFixture.load("panicked").target())
        let kernel = try session.kernel()
        let tracer = try Backtracer(kernel: kernel)
        let bt = try tracer.backtrace(task: try tracer.defaultTask().task)
        return Stack(session: session, kernel: kernel, bt: bt, reader: FrameVariableReader(kernel: kernel))
    }

    @Test func panicsFormatIsTheAddressTheCallerLoaded() throws {
        let s = try panickingStack()
        // sysrq_handle_crash loads `mov $imm32,%rdi` (48 c7 c7, sign-extended; relocated in memory),
        // then calls panic: at +0xa on 6.1, +0xe on 6.12 (after endbr64 and a call of __rcu_read_unlock).
        let code = try s.kernel.memory.readVirtual(try s.kernel.address(of: "sysrq_handle_crash"), count: 32)
        let at = try #require((0..<25).first { code[$0] == 0x48 && code[$0 + 1] == 0xc7 && code[$0 + 2] == 0xc7 }, "\(code)")
        let mov = Array(code[at..<(at + 7)])
        let imm = UInt32(mov[3]) | UInt32(mov[4]) << 8 | UInt32(mov[5]) << 16 | UInt32(mov[6]) << 24
        let loaded = UInt64(bitPattern: Int64(Int32(bitPattern: imm)))
        let (_, panic) = try s.frame("panic")
        let fmt = try #require(panic.variable(named: "fmt"))
        #expect(fmt.isArgument && TypeFormatter.name(of: fmt.type) == "const char *")
        #expect(try s.integer(fmt) == loaded)
        let text = try s.kernel.memory.readVirtual(loaded, count: 22)
        #expect(String(decoding: text, as: UTF8.self) == "sysrq triggered crash\n")
        // The static buffer of panic (vpanic on 6.12) holds the message (a static local: DW_OP_addr, relocated).
        let (_, body) = try s.frame(LabFixture.load("panicked").panicBody)
        let buf = try #require(body.variable(named: "buf"))
        #expect(buf.value.address == (try s.kernel.address(of: "buf.2")), "\(String(describing: buf.value.address))")
    }

    @Test func theSysrqWriteIsTwoBytesOfC() throws {
        let s = try panickingStack()
        let (_, trigger) = try s.frame("write_sysrq_trigger")
        #expect(trigger.arguments.map(\.name) == ["file", "buf", "count", "ppos"])
        #expect(try s.integer(trigger.variable(named: "count")) == 2)
        let (_, vfs) = try s.frame("vfs_write")
        #expect(try s.integer(vfs.variable(named: "count")) == 2)
        let vfsFile = try s.integer(vfs.variable(named: "file"))
        // An entry value: write_sysrq_trigger's file, found through proc_reg_write's call site.
        #expect(try s.integer(trigger.variable(named: "file")) == vfsFile)
        // The key: __handle_sysrq's on 6.1; on 6.12 only sysrq_handle_crash's is known.
        let (_, sysrq) = try s.frame("__handle_sysrq")
        let (_, crash) = try s.frame("sysrq_handle_crash")
        #expect(try s.integer(crash.variable(named: "key")) == UInt64(UInt8(ascii: "c")))
        if !(try LabFixture.load("panicked").atLeast(6, 12)) {
            #expect(try s.integer(sysrq.variable(named: "key")) == UInt64(UInt8(ascii: "c")))
        }
        // write_sysrq_trigger calls __handle_sysrq(c, false): known only from the call site.
        let mask = try #require(sysrq.variable(named: "check_mask"))
        let maskValue = try s.integer(mask)
        #expect(mask.storage == "computed" && maskValue == 0)
    }

    @Test func inlineFramesHaveTheInlinedFunctionsOwnVariables() throws {
        let s = try panickingStack()
        // proc_reg_write inlines pde_write(pde, file, buf, count, ppos) on both kernels.
        let (w, pde) = try s.frame("pde_write")
        #expect(s.bt.frames[w].isInline)
        #expect(pde.arguments.map(\.name) == ["ppos", "count", "buf", "file", "pde"])
        let (_, proc) = try s.frame("proc_reg_write")
        #expect(try s.integer(pde.variable(named: "pde")) == s.integer(proc.variable(named: "pde")))
        #expect(try s.integer(pde.variable(named: "file")) == s.integer(proc.variable(named: "file")))
        #expect(pde.variable(named: "rv") == nil && proc.variable(named: "rv") != nil)
        let (i, chain) = try s.frame("notifier_call_chain")
        let list = try s.kernel.address(of: "panic_notifier_list")
        guard s.bt.frames[i].isInline else {
            // 6.12 calls it: its own frame, arguments in source order, the list's head as nl.
            #expect(try LabFixture.load("panicked").atLeast(6, 12))
            #expect(chain.arguments.map(\.name) == ["nl", "val", "v", "nr_to_call", "nr_calls"])
            #expect(try s.integer(chain.variable(named: "nl")) == list + 8)
            return
        }
        // In the order of the inlined instance's DIEs (GCC's, as drgn lists them).
        #expect(chain.arguments.map(\.name) == ["nr_calls", "nr_to_call", "v", "val", "nl"])
        // atomic_notifier_call_chain calls notifier_call_chain(&nh->head, val, v, -1, NULL).
        #expect(try s.integer(chain.variable(named: "nr_calls")) == 0)
        // -1 is kept in r14, which the module code below (pvpanic, no CFI) may have reused: unknown, not guessed.
        let count = try #require(chain.variable(named: "nr_to_call"))
        #expect(count.value.isOptimizedOut && count.unavailable?.contains("register 14 is not known") == true, "\(count)")
        let (_, atomic) = try s.frame("atomic_notifier_call_chain")
        #expect(try s.integer(atomic.variable(named: "nh")) == list)
        #expect(try s.integer(chain.variable(named: "nl")) == list + 8)
        #expect(chain.variable(named: "fmt") == nil && atomic.variable(named: "ret") != nil)
    }

    @Test func optimizedOutVariablesPrintAsGdbDoes() throws {
        let s = try panickingStack()
        let (i, panic) = try s.frame(LabFixture.load("panicked").panicBody)
        let loop = try #require(panic.variable(named: "i"))
        #expect(loop.value.isOptimizedOut && loop.storage == "optimized_out")
        _ = try s.session.execute("frame \(i)")
        let locals = try s.session.execute("info locals").text
        #expect(locals.contains("\ni = <optimized out>\n"), "\(locals)")
        #expect(locals.contains("buf = \"sysrq triggered crash\", '\\000' <repeats 1002 times>"), "\(locals)")
        let args = try s.session.execute("info args").text
        let first = args.split(separator: "\n").first ?? ""
        #expect(first.hasPrefix("fmt = (const char *) 0x") && first.hasSuffix("\"sysrq triggered crash\\n\""), "\(args)")
        // `p` sees the selected frame's names before the globals.
        #expect(try s.session.execute("p i").text.hasSuffix(" = <optimized out>"))
        #expect(try s.session.execute("p *fmt").text.hasSuffix(" = 115 's'"))
        #expect(throws: ValueError.optimizedOut) { try s.session.execute("p i + 1") }
        #expect(throws: CommandError.self) { try s.session.execute("p &fmt") }
        #expect(try s.session.execute("p jiffies").text.hasPrefix("$"))
        _ = try s.session.execute("frame 0")
        #expect(throws: CommandError.self) { try s.session.execute("p fmt") }
        // A scope of one frame, as the adapter gives it to any evaluator.
        let evaluator = try s.session.kernel().evaluator
        let scope = FrameVariablesScope(kernel: s.kernel, backtrace: s.bt, frame: i)
        evaluator.frameScope = scope
        let formatter = ValueFormatter(memory: s.kernel.memory, symbolize: { _ in nil })
        #expect(try formatter.top(evaluator.evaluate("i")) == "<optimized out>")
        #expect(throws: ValueError.optimizedOut) { _ = try evaluator.evaluate("i + 1") }
        withExtendedLifetime(scope) {}
    }

    @Test func btFullPrintsArgumentsOnTheFrameLineAndLocalsBelow() throws {
        let s = try panickingStack()
        let text = try s.session.execute("bt full").text
        let lines = text.split(separator: "\n").map(String.init)
        let fx = try LabFixture.load("panicked")
        let panic = try #require(lines.firstIndex { $0.contains(" in \(fx.panicBody)+") })
        // The call's line, as addr2line gives it for the byte before the return address.
        let pc = try #require(UInt64(lines[panic].split(separator: " ").first { $0.hasPrefix("0x") }?.dropFirst(2) ?? "", radix: 16))
        let kaslr = try #require(try fx.target().symbols?.kaslrOffset)
        let oracle = try DisassemblyTests.tool("addr2line", ["-e", fx.vmlinux, "0x" + String(pc - 1 - kaslr, radix: 16)])
        let line = try #require(oracle.split(separator: ":").last?.prefix { $0.isNumber }, "\(oracle)")
        #expect(lines[panic].contains("(fmt=(const char *) 0x") && lines[panic].hasSuffix(" at kernel/panic.c:\(line)"), "\(lines[panic]) / \(oracle)")
        #expect(lines[panic + 1].hasPrefix("        buf = \"sysrq triggered crash\""), "\(lines[panic + 1])")
        let trigger = try #require(lines.first { $0.contains(" in write_sysrq_trigger+") })
        #expect(trigger.contains("count=2"), "\(trigger)")
        // Module code: its DWARF is not read for variables yet.
        #expect(lines[1].contains(" [pvpanic]") && lines[2] == "        No locals.")
    }
}

/// The location machine on made-up expressions, with the panicked dump's memory.
@Suite(.serialized) struct DwarfLocationTests {
    func machine() throws -> DwarfExpression {
        let kernel = try Session(target: try LabFixture.load("panicked").target()).kernel()
        var regs = RegisterSet()
        regs[0] = 0x1122_3344_5566_7788 // rax
        regs[7] = try kernel.address(of: "init_task") // rsp, pointing at readable memory
        var m = DwarfExpression(registers: regs, memory: kernel.memory)
        m.cfa = 0x1000
        m.frameBase = 0x2000
        return m
    }

    @Test func simpleLocations() throws {
        let m = try machine()
        #expect(try m.location([DwarfOp(atom: 0x50)]) == .simple(.bytes(DwarfExpression.bytes(0x1122_3344_5566_7788))))
        #expect(try m.location([DwarfOp(atom: 0x91, number: UInt64(bitPattern: -16))]) == .simple(.memory(0x1ff0)))
        #expect(try m.location([DwarfOp(atom: 0x9c), DwarfOp(atom: 0x23, number: 8)]) == .simple(.memory(0x1008)))
        #expect(try m.location([DwarfOp(atom: 0x35), DwarfOp(atom: 0x9f)]) == .simple(.bytes(DwarfExpression.bytes(5))))
        #expect(try m.location([]) == .simple(.empty))
        var implicit = DwarfOp(atom: 0x9e, number: 2)
        implicit.block = [0xab, 0xcd]
        #expect(try m.location([implicit]) == .simple(.bytes([0xab, 0xcd])))
    }

    @Test func piecesMakeACompositeValue() throws {
        let m = try machine()
        // rax's low 4 bytes, then 4 optimized-out bytes, then the constant 7 as 2 bytes.
        let ops = [DwarfOp(atom: 0x50), DwarfOp(atom: 0x93, number: 4), DwarfOp(atom: 0x93, number: 4),
                   DwarfOp(atom: 0x37), DwarfOp(atom: 0x9f), DwarfOp(atom: 0x93, number: 2)]
        guard case let .composite(pieces) = try m.location(ops) else { Issue.record("not composite"); return }
        #expect(pieces.map(\.size) == [4, 4, 2])
        #expect(pieces[1].piece == .empty && pieces[2].piece == .bytes(DwarfExpression.bytes(7)))
    }

    @Test func branchesArithmeticAndDereference() throws {
        let m = try machine()
        // lit1; bra +1 (skips the lit2 at offset 3); lit3 — branch targets by byte offset.
        var ops = [DwarfOp(atom: 0x31), DwarfOp(atom: 0x28, number: 1), DwarfOp(atom: 0x32), DwarfOp(atom: 0x33), DwarfOp(atom: 0x9f)]
        for (i, o) in [0, 1, 4, 5, 6].enumerated() { ops[i].offset = UInt64(o) }
        #expect(try m.location(ops) == .simple(.bytes(DwarfExpression.bytes(3))))
        let arith = [DwarfOp(atom: 0x11, number: UInt64(bitPattern: -7)), DwarfOp(atom: 0x32), DwarfOp(atom: 0x1b), DwarfOp(atom: 0x9f)]
        #expect(try m.location(arith) == .simple(.bytes(DwarfExpression.bytes(UInt64(bitPattern: -3)))))
        // breg7 0; deref: the first 8 bytes of init_task, as memory holds them.
        let first = try DwarfExpression.littleEndian(m.memory.readVirtual(m.registers[7] ?? 0, count: 8))
        #expect(try m.number([DwarfOp(atom: 0x77), DwarfOp(atom: 0x06)]) == first)
    }

    @Test func boundsAndMissingInputs() throws {
        let m = try machine()
        // A register the frame does not know, an entry value without a caller: optimized out.
        #expect(throws: DwarfExpression.Unavailable.self) { _ = try m.location([DwarfOp(atom: 0x53)]) }
        #expect(throws: DwarfExpression.Unavailable.self) { _ = try m.location([DwarfOp(atom: 0xa3)]) }
        // Stack depth and run length are bounded; a backward skip loops until the step limit.
        #expect(throws: DwarfExpression.Unknown.self) { _ = try m.location([DwarfOp](repeating: DwarfOp(atom: 0x30), count: 65)) }
        var loop = DwarfOp(atom: 0x2f, number: UInt64(UInt16(bitPattern: -3)))
        loop.offset = 0
        #expect(throws: DwarfExpression.Unknown.self) { _ = try m.location([loop]) }
        #expect(throws: DwarfExpression.Unknown.self) { _ = try m.location([DwarfOp(atom: 0x30), DwarfOp(atom: 0x93, number: 1 << 20)]) }
        #expect(throws: DwarfExpression.Unknown.self) { _ = try m.location([DwarfOp(atom: 0x1b)]) }
        #expect(throws: DwarfExpression.Unsupported.self) { _ = try m.location([DwarfOp(atom: 0xe0)]) }
    }
}
