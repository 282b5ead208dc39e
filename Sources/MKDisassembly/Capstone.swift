import CCapstone

// Every raw capstone call of the project goes through this file.

/// One capstone handle with detail on, and the one instruction buffer
/// `cs_disasm_iter` decodes into. Not shared between threads.
final class CapstoneEngine {
    private var handle: csh = 0
    private let insn: UnsafeMutablePointer<cs_insn>
    let instructionSet: InstructionSet

    init(_ instructionSet: InstructionSet, flavor: DisassemblyFlavor) throws {
        self.instructionSet = instructionSet
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
        guard let buffer = cs_malloc(h) else {
            cs_close(&h)
            throw DisassemblyError.engine("cannot allocate an instruction")
        }
        insn = buffer
        var problems: [cs_err] = [cs_option(h, CS_OPT_DETAIL, Int(CS_OPT_ON.rawValue))]
        if instructionSet == .x86_64 {
            let syntax = flavor == .att ? CS_OPT_SYNTAX_ATT : CS_OPT_SYNTAX_INTEL
            problems.append(cs_option(h, CS_OPT_SYNTAX, Int(syntax.rawValue)))
        }
        if let bad = problems.first(where: { $0 != CS_ERR_OK }) {
            throw DisassemblyError.engine("cannot set an option: \(Self.message(bad))")
        }
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
            let a = detail.arm64
            let ops = Self.operands(a.operands, count: Int(a.op_count), of: cs_arm64_op.self)
            if branches, let last = ops.last, last.type == ARM64_OP_IMM {
                result.branchTarget = UInt64(bitPattern: last.imm)
            }
        }
        return result
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
