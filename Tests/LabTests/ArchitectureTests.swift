import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo
import MKKernel
import MKCommands

/// The x86-64 architecture table checked against the lab kernel's own
/// DWARF and dumps: register names, DWARF numbers, `pt_regs` members,
/// `NT_PRSTATUS` layout, the choice of table by ELF machine.
@Suite(.serialized) struct ArchitectureTests {
    static func kernel(_ fixture: String = "panicked") throws -> Kernel {
        try Session(target: try LabFixture.load(fixture).target()).kernel()
    }

    /// On x86-64 `struct pt_regs` is laid out as `user_regs_struct` (the
    /// `pr_reg` of `NT_PRSTATUS`): each register's `pt_regs` member sits at
    /// 8 × its index among the `pr_reg` names, so the table's three
    /// spellings of every register agree with the kernel's DWARF.
    @Test func ptRegsMembersMatchPrStatusNames() throws {
        let kernel = try Self.kernel()
        let arch = try kernel.architecture()
        #expect(arch.name == "x86-64")
        let ptRegs = try kernel.type("struct pt_regs")
        let names = arch.prStatusLayout.registerNames
        #expect(arch.registers.count == 17)
        for r in arch.registers {
            let member = try #require(r.ptRegsMember, "\(r.name) has no pt_regs member")
            let prName = try #require(r.prStatusName)
            let index = try #require(names.firstIndex(of: prName), "\(prName) is not in pr_reg")
            #expect(try kernel.offset(of: member, in: ptRegs) == UInt64(8 * index), "\(r.name): pt_regs.\(member)")
        }
        let layout = try arch.ptRegsLayout(kernel: kernel)
        #expect(layout.size == UInt64(8 * 21), "pt_regs ends with ss")
        let cs = try #require(names.firstIndex(of: "cs"))
        #expect(layout.mode == UInt64(8 * cs))
        #expect(Set(layout.offsets.values).count == 17)
    }

    /// The DWARF numbers of sp and the return address, by the vmlinux's CFI:
    /// at a C function's first instruction the CFA is sp + 8 and the return
    /// address is saved at CFA − 8.
    @Test func dwarfNumbersAgreeWithCallFrameInfo() throws {
        let kernel = try Self.kernel()
        let arch = try kernel.architecture()
        let symbols = try kernel.target.requireSymbols()
        let schedule = try symbols.require("schedule").address &- symbols.kaslrOffset
        let row = try #require(kernel.dwarf?.callFrameRow(linkAddress: schedule, registers: arch.registers.map(\.dwarfNumber)))
        let sp = try #require(arch.register(named: "rsp")).dwarfNumber
        let pc = try #require(arch.register(named: "rip")).dwarfNumber
        #expect(sp == arch.registerFile.sp && pc == arch.registerFile.pc)
        #expect(arch.register(named: "rbp")?.dwarfNumber == arch.registerFile.fp)
        // DW_OP_breg<sp> 8, or DW_OP_bregx sp 8 (libdw's spelling of a CFA offset rule).
        #expect(row.cfa == [DwarfOp(atom: 0x70 + UInt8(sp), number: 8)] || row.cfa == [DwarfOp(atom: 0x92, number: UInt64(sp), number2: 8)],
                "CFA rule \(row.cfa)")
        let minus8 = UInt64(bitPattern: -8)
        let ra = row.registers[pc]
        // DW_OP_call_frame_cfa, DW_OP_plus_uconst −8 (libdw adds the offset modulo 2^64).
        #expect(ra == .expression([DwarfOp(atom: 0x9c), DwarfOp(atom: 0x23, number: minus8)]),
                "return address rule \(String(describing: ra))")
    }

    /// Each CPU's note read through the table gives the registers `pr_reg` holds under their names.
    @Test func prStatusRegistersByTable() throws {
        let kernel = try Self.kernel()
        let arch = try kernel.architecture()
        let notes = kernel.target.image.prStatus(layout: arch.prStatusLayout)
        #expect(!notes.isEmpty)
        for note in notes {
            let regs = arch.registers(from: note)
            #expect(regs.pc == note.registers["rip"] && regs.sp == note.registers["rsp"] && regs.bp == note.registers["rbp"])
            #expect(regs[X86_64Architecture.r12] == note.registers["r12"] && regs.mode == note.registers["cs"])
        }
        #expect(notes.contains { arch.isKernelAddress($0.registers["rip"] ?? 0) && !arch.isUserMode(arch.registers(from: $0)) })
    }

    /// The table is chosen by the image's ELF machine, for ELF and kdump dumps
    /// alike; the memory side picks the same architecture's address layout.
    @Test func tableChosenByMachine() throws {
        let fx = try LabFixture.load("panicked")
        for path in [fx.elf, fx.kdump] {
            let image = try ImageOpener.open(path)
            #expect(image.elfMachine == ElfHeader.emX86_64, "\(path)")
            let memory = try KernelMemory(image: image)
            #expect(memory.addressLayout?.architecture == "x86-64")
        }
        #expect(Architectures.all.map(\.name) == ["x86-64", "arm64"])
        for arch in Architectures.all {
            #expect(try Architectures.forMachine(arch.elfMachine).name == arch.name)
            // The x86-64 dump's VMCOREINFO builds only the x86-64 layout (Arm64Tests has arm64's).
            guard arch.elfMachine == ElfHeader.emX86_64 else { continue }
            let info = try #require(try ImageOpener.open(fx.elf).vmcoreInfo)
            let layout = try KernelAddressLayouts.make(machine: arch.elfMachine, vmcoreInfo: info, imagePath: fx.elf)
            #expect(layout.architecture == arch.name)
            #expect(try arch.makeAddressLayout(vmcoreInfo: info, imagePath: fx.elf).architecture == arch.name)
        }
        #expect(try Architectures.forMachine(ElfHeader.emAarch64).name == "arm64")
        #expect(throws: KernelError.self) { try Architectures.forMachine(243) } // riscv64
        let info = try #require(try ImageOpener.open(fx.elf).vmcoreInfo)
        #expect(throws: LayoutError.self) { try KernelAddressLayouts.make(machine: 40, vmcoreInfo: info, imagePath: "t") }
    }

    /// A sleeping task's start registers come from the table: its pc
    /// returns into the scheduler and only the switch frame's registers are known.
    @Test func sleepingTaskRegisters() throws {
        let kernel = try Self.kernel("running")
        let arch = try kernel.architecture()
        let tracer = try Backtracer(kernel: kernel)
        let task = kernel.object(try kernel.type("struct task_struct"), at: try tracer.task(pid: 1))
        let (regs, isReturn) = try arch.sleepingTaskRegisters(task, kernel: kernel)
        #expect(isReturn)
        let symbols = try kernel.target.requireSymbols()
        let pc = try #require(regs.pc)
        #expect(symbols.symbolize(pc - 1)?.symbol.name == "__schedule", "pc \(hex(pc))")
        #expect(regs[X86_64Architecture.rax] == nil && regs[X86_64Architecture.rbx] != nil && regs.mode == 0x10)
        let threadSP = try task["thread"]["sp"].unsigned()
        #expect(regs.sp == threadSP + 7 * 8, "inactive_task_frame is 6 words and the return address")
    }

    /// Each frame carries the registers the unwinder recovered: the
    /// panicking CPU's first frame all of its note's, a frame a call
    /// returned to only what the ABI keeps (no rax, say) plus pc and sp.
    @Test func framesCarryTheirRegisters() throws {
        let kernel = try Self.kernel()
        let tracer = try Backtracer(kernel: kernel)
        let bt = try tracer.backtrace(task: try tracer.defaultTask().task)
        #expect(bt.active && bt.frames.count > 4, "\(bt.notes)")
        for f in bt.frames {
            #expect(f.registers.pc == f.pc && f.registers.sp == f.sp, "frame \(f.index)")
        }
        let first = try #require(bt.frames.first)
        #expect(first.method == "start")
        #expect((0..<17).allSatisfy { first.registers[$0] != nil })
        let called = bt.frames.filter { $0.method == "orc" && !$0.isInline }
        #expect(!called.isEmpty)
        #expect(called.allSatisfy { $0.registers[X86_64Architecture.rax] == nil && $0.registers[X86_64Architecture.rdi] == nil })
    }

    /// A riscv64 core (a machine without a table) opens as an ELF core recording its machine;
    /// mkdbg then says riscv64 is not supported yet (a typed error naming the machine),
    /// with or without VMCOREINFO, not that the file is not an x86-64 core.
    @Test func riscv64CoreIsUnsupportedArchitecture() throws {
        let fx = try LabFixture.load("panicked")
        let info = try #require(try ImageOpener.open(fx.elf).vmcoreInfo)
        let dir = NSTemporaryDirectory() + "mkdbg-riscv64-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for withInfo in [true, false] {
            let path = dir + "/riscv64-\(withInfo).core"
            let notes = withInfo ? [ElfNote(name: "VMCOREINFO", type: 0, descriptor: Array(info.entries.map { "\($0.key)=\($0.value)\n" }.joined().utf8), offset: 0)] : []
            let writer = try ElfCoreWriter(notes: notes, loads: [.init(physicalAddress: 0x4000_0000, size: 0x1000)],
                                           machine: 243)
            try writer.write(to: try DumpTests.FileOutput(path)) { _, buffer in buffer.initializeMemory(as: UInt8.self, repeating: 0) }
            let core = try ElfCore(path: path)
            #expect(core.elfMachine == 243)
            #expect(core.prStatus.isEmpty)
            let r = try runMkdbg(["--json", "-c", path, "-e", "p 1"])
            #expect(r.status == 1)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out)")
            let e = try #require(o["error"] as? [String: Any])
            #expect(e["kind"] as? String == "unsupported_architecture", "\(e)")
            #expect(e["machine"] as? Int == 243 && e["architecture"] as? String == "riscv64", "\(e)")
            #expect(r.err.hasPrefix("mkdbg: \(path): riscv64 is not supported yet"), "\(r.err)")
            #expect(!r.err.contains("x86-64 core"))
        }
    }
}
