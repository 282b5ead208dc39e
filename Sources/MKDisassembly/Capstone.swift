import CCapstone

// Every raw capstone call of the project goes through this file.

/// One capstone handle with detail on, and the one instruction buffer
/// `cs_disasm_iter` decodes into. Not shared between threads.
final class CapstoneEngine {
    private var handle: csh = 0
    private let insn: UnsafeMutablePointer<cs_insn>
    let instructionSet: InstructionSet
    let flavor: DisassemblyFlavor

    init(_ instructionSet: InstructionSet, flavor: DisassemblyFlavor) throws {
        self.instructionSet = instructionSet
        self.flavor = flavor
        let arch: cs_arch
        let mode: cs_mode
        switch instructionSet {
        case .x86_64: (arch, mode) = (CS_ARCH_X86, CS_MODE_64)
        case .arm64: (arch, mode) = (CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN)
        }
        var h: csh = 0
        let opened = cs_open(arch, mode, &h)
        guard opened == CS_ERR_OK else {
            throw DisassemblyError.engine("cannot open a \(instructionSet.rawValue) handle: \(Self.message(opened))")
        }
        handle = h
        var problems: [cs_err] = [cs_option(h, CS_OPT_DETAIL, Int(CS_OPT_ON.rawValue))]
        if instructionSet == .x86_64 {
            let syntax = flavor == .att ? CS_OPT_SYNTAX_ATT : CS_OPT_SYNTAX_INTEL
            problems.append(cs_option(h, CS_OPT_SYNTAX, Int(syntax.rawValue)))
            // `$0xffffffff`, as objdump, not `$-1`.
            problems.append(cs_option(h, CS_OPT_UNSIGNED, Int(CS_OPT_ON.rawValue)))
        }
        if let bad = problems.first(where: { $0 != CS_ERR_OK }) {
            cs_close(&h)
            throw DisassemblyError.engine("cannot set an option: \(Self.message(bad))")
        }
        // After the options: cs_malloc gives the buffer a detail block only when detail is on.
        guard let buffer = cs_malloc(h) else {
            cs_close(&h)
            throw DisassemblyError.engine("cannot allocate an instruction")
        }
        insn = buffer
    }

    deinit {
        cs_free(insn, 1)
        cs_close(&handle)
    }

    private static func message(_ e: cs_err) -> String {
        guard let p = cs_strerror(e) else { return "error \(e.rawValue)" }
        return String(cString: p)
    }

    /// The instruction at the start of `code` (at `address`), or nil when
    /// the bytes there do not decode (or are too few).
    func decode(_ code: ArraySlice<UInt8>, address: UInt64) -> Instruction? {
        guard let first = raw(code, address: address) else { return nil }
        return instructionSet == .x86_64 ? ud1(first, code, address: address) ?? first : first
    }

    /// Capstone 4 decodes UD1 (`0f b9 /r`) without its ModRM byte, so a 6.12
    /// kernel's `ud1 %esp,%ecx` traps (bytes 0f b9 cc) come out as a 2-byte
    /// instruction and the listing loses its way. IMUL r, r/m (`0f af /r`) has the
    /// same operand form: decode that in its place for the length and operands.
    private func ud1(_ decoded: Instruction, _ code: ArraySlice<UInt8>, address: UInt64) -> Instruction? {
        let legacy: Set<UInt8> = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]
        var j = code.startIndex
        while j < code.endIndex, j - code.startIndex < 4, legacy.contains(code[j]) { j += 1 }
        if j < code.endIndex, code[j] & 0xf0 == 0x40 { j += 1 }
        guard j + 2 < code.endIndex, code[j] == 0x0f, code[j + 1] == 0xb9,
              decoded.bytes.count == j + 2 - code.startIndex else { return nil }
        var twin = Array(code.prefix(16))
        twin[j + 1 - code.startIndex] = 0xaf
        guard let imul = raw(twin[...], address: address) else { return nil }
        return Instruction(address: address, bytes: Array(code.prefix(imul.bytes.count)), mnemonic: "ud1",
                           operands: imul.operands, memoryReference: imul.memoryReference)
    }

    private func raw(_ code: ArraySlice<UInt8>, address: UInt64) -> Instruction? {
        code.withUnsafeBufferPointer { buffer -> Instruction? in
            guard let base = buffer.baseAddress else { return nil }
            var p: UnsafePointer<UInt8>? = base
            var size = buffer.count
            var at = address
            guard cs_disasm_iter(handle, &p, &size, &at, insn) else { return nil }
            return instruction(insn.pointee)
        }
    }

    private func instruction(_ i: cs_insn) -> Instruction {
        let length = min(Int(i.size), 16)
        let bytes = withUnsafeBytes(of: i.bytes) { Array($0.prefix(length)) }
        let mnemonic = withUnsafeBytes(of: i.mnemonic) { Self.cString($0) }
        let operands = withUnsafeBytes(of: i.op_str) { Self.cString($0) }
        var result = Instruction(address: i.address, bytes: bytes, mnemonic: mnemonic,
                                 operands: operands.replacing(", ", with: ","))
        guard let detail = i.detail?.pointee else { return result }
        let groups = withUnsafeBytes(of: detail.groups) { Array($0.prefix(min(Int(detail.groups_count), 8))) }
        result.isCall = groups.contains(UInt8(CS_GRP_CALL.rawValue))
        result.isReturn = groups.contains(UInt8(CS_GRP_RET.rawValue))
        result.isJump = groups.contains(UInt8(CS_GRP_JUMP.rawValue)) && !result.isCall
        let branches = result.isCall || result.isJump
        switch instructionSet {
        case .x86_64:
            let x86 = detail.x86
            let ops = Self.operands(x86.operands, count: Int(x86.op_count), of: cs_x86_op.self)
            if flavor == .att {
                result.mnemonic = objdumpMnemonic(mnemonic, id: i.id, registerOperand: ops.contains { $0.type == X86_OP_REG })
            }
            for op in ops {
                if branches, op.type == X86_OP_IMM, ops.count == 1 {
                    result.branchTarget = UInt64(bitPattern: op.imm)
                }
                if op.type == X86_OP_MEM, op.mem.base == X86_REG_RIP {
                    // RIP-relative: from the end of the instruction.
                    result.memoryReference = i.address &+ UInt64(length) &+ UInt64(bitPattern: op.mem.disp)
                }
            }
        case .arm64:
            // Capstone 4 puts no arm64 branch in the call or jump group: by instruction id.
            let id = i.id
            result.isCall = [ARM64_INS_BL, ARM64_INS_BLR].contains { $0.rawValue == id }
            result.isReturn = result.isReturn || ARM64_INS_RET.rawValue == id
            result.isJump = [ARM64_INS_B, ARM64_INS_BR, ARM64_INS_CBZ, ARM64_INS_CBNZ, ARM64_INS_TBZ, ARM64_INS_TBNZ]
                .contains { $0.rawValue == id }
            let a = detail.arm64
            let ops = Self.operands(a.operands, count: Int(a.op_count), of: cs_arm64_op.self)
            if result.isCall || result.isJump, let last = ops.last, last.type == ARM64_OP_IMM {
                result.branchTarget = UInt64(bitPattern: last.imm)
            }
        }
        return result
    }

    /// Capstone writes AT&T's size suffix always (`pushq`, `movq`); objdump
    /// and gdb only where the operands leave the size open: a register
    /// operand sets it, and call, ret, jmp, push and pop are 64-bit in
    /// long mode. The suffix is dropped only when the mnemonic is exactly
    /// the instruction's name plus one of b/w/l/q (`movzbl` keeps its letters),
    /// and from the string instructions stos, lods, scas (the accumulator is an operand).
    private func objdumpMnemonic(_ mnemonic: String, id: UInt32, registerOperand: Bool) -> String {
        guard let p = cs_insn_name(handle, id) else { return mnemonic }
        let name = String(cString: p)
        var words = mnemonic.split(separator: " ").map(String.init)
        guard let last = words.last else { return mnemonic }
        // String instructions with the accumulator as an operand: objdump writes
        // `rep stos %rax,%es:(%rdi)` (capstone's detail lists only the memory operand).
        if ["stos", "lods", "scas"].contains(String(last.dropLast())), let s = last.last, "bwlq".contains(s) {
            words[words.count - 1] = String(last.dropLast())
            return words.joined(separator: " ")
        }
        // pushfq/popfq: 64-bit in long mode, written pushf/popf.
        if name == "pushfq" || name == "popfq" { words[words.count - 1] = String(name.dropLast()); return words.joined(separator: " ") }
        guard last.count == name.count + 1, last.hasPrefix(name),
              let suffix = last.last, "bwlq".contains(suffix) else { return mnemonic }
        let stackOrBranch = ["call", "ret", "jmp", "push", "pop"].contains(name)
        guard registerOperand || stackOrBranch else { return mnemonic }
        words[words.count - 1] = name
        return words.joined(separator: " ")
    }

    /// The first `count` elements of a fixed-size C array imported as a tuple.
    private static func operands<Tuple, Element>(_ tuple: Tuple, count: Int, of: Element.Type) -> [Element] {
        withUnsafeBytes(of: tuple) { raw in
            let capacity = raw.count / MemoryLayout<Element>.stride
            return (0..<min(max(count, 0), capacity)).map { raw.load(fromByteOffset: $0 * MemoryLayout<Element>.stride, as: Element.self) }
        }
    }

    private static func cString(_ raw: UnsafeRawBufferPointer) -> String {
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
