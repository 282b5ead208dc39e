import MKSystem
import MKFormat
import MKDebugInfo
import MKKernel
import MKDisassembly

/// What `dis`, `disassemble` and `x/i` share: the disassembler for the
/// target's architecture in the session's flavor, names for code
/// addresses (vmlinux and modules), and the lines:
/// `0xADDR <func+off>:\tinsn operands`, direct call and jump targets
/// named, pc-relative operands commented `# 0x… <sym>` as gdb does, the
/// selected frame's pc marked `=>`, and with source lines a `FILE:LINE`
/// header (naming inlined functions) whenever the position changes.
struct DisassemblyListing {
    let context: TargetContext
    let disassembler: Disassembler
    let names: CodeNames
    /// The selected frame's pc (nil when the backtrace cannot be walked).
    let markedPC: UInt64?

    struct Style {
        var rawBytes = false
        var source = false
        /// Prefix every line with `=> ` or three spaces (gdb's
        /// `disassemble` and `x/i` always do; crash's `dis` only when the pc is listed).
        var alwaysIndent = false
    }

    init(_ session: Session) throws {
        guard let context = session.current else { throw CommandError.noTarget }
        self.context = context
        let architecture = try Architectures.forMachine(context.target.image.elfMachine)
        disassembler = try Disassembler(instructionSet: architecture.instructionSet, flavor: session.disassemblyFlavor)
        names = CodeNames(target: context.target, kernel: { try context.kernel() })
        names.moduleDebugFiles = context.moduleDebugFiles
        markedPC = (try? context.selectedFrame(budget: session.walkBudget()))??.pc
    }

    var memory: CodeMemory { context.target.memory }

    /// A function or address as the commands take it: a function name
    /// (vmlinux or module), `name+N`/`name-N` for either, else an
    /// expression, number or symbol±offset.
    func address(of text: String, _ session: Session) throws -> UInt64 {
        let t = text.trimmed()
        if let f = names.function(named: t) { return f.start }
        if let i = t.lastIndex(where: { $0 == "+" || $0 == "-" }), i != t.startIndex {
            let name = t[..<i].trimmed()
            if let f = names.function(named: name), let n = AddressExpression.parseNumber(t[t.index(after: i)...].trimmed()) {
                return t[i] == "+" ? f.start &+ n : f.start &- n
            }
        }
        return try ExamineCommand.address(of: t, session, physical: false)
    }

    /// The function holding `address`, or an error naming it.
    func function(containing address: UInt64) throws -> CodeFunction {
        guard let f = names.function(containing: address), f.size > 0 else {
            throw CommandError.unknownName(hex(address), message: "no function contains address \(hex(address))"
                                           + (names.moduleProblem.map { " (\($0))" } ?? ""))
        }
        return f
    }

    /// The listing's lines and its JSON rows.
    func render(_ instructions: [Instruction], _ style: Style) -> (lines: [String], rows: [JSONValue]) {
        var lines: [String] = []
        var rows: [JSONValue] = []
        let indent = style.alwaysIndent || instructions.contains { $0.address == markedPC }
        var lastHeader: String?
        for insn in instructions {
            var file: String?, line: Int?, inlined: [String] = []
            if style.source {
                let levels = names.sourceLevels(at: insn.address)
                file = levels.first?.file
                line = levels.first?.line
                inlined = levels.filter(\.isInline).map { $0.name ?? "?" }
                if let file, let line {
                    var header = "\(file):\(line)"
                    if !inlined.isEmpty {
                        header += "  [inlined: " + inlined.joined(separator: " <- ")
                        if let outer = levels.last?.name { header += " <- \(outer)" }
                        header += "]"
                    }
                    if header != lastHeader { lines.append(header) }
                    lastHeader = header
                }
            }
            let current = insn.address == markedPC
            let named = Names(self, insn)
            lines.append((indent ? (current ? "=> " : "   ") : "") + text(insn, named, rawBytes: style.rawBytes))
            rows.append(row(insn, named, current: current, file: file, line: line, inlined: inlined))
        }
        return (lines, rows)
    }

    /// The `func+off` names of an instruction's address, target and reference, looked up once.
    struct Names {
        var address: String?, target: String?, reference: String?
        init(_ listing: DisassemblyListing, _ insn: Instruction) {
            address = listing.names.describe(insn.address)
            target = insn.branchTarget.flatMap { listing.names.describe($0) }
            reference = insn.memoryReference.flatMap { listing.names.describe($0) }
        }
    }

    /// `0xADDR <func+off>:\t[bytes\t]insn` with the target's name and the operand comment.
    func text(_ insn: Instruction, _ named: Names, rawBytes: Bool) -> String {
        var s = "0x" + String(insn.address, radix: 16)
        if let name = named.address { s += " <\(name)>" }
        s += ":\t"
        if rawBytes { s += insn.hexBytes + "\t" }
        s += insn.text
        if let name = named.target { s += " <\(name)>" }
        if let r = insn.memoryReference {
            s += "        # 0x" + String(r, radix: 16) + (named.reference.map { " <\($0)>" } ?? "")
        }
        return s
    }

    func row(_ insn: Instruction, _ named: Names, current: Bool, file: String?, line: Int?, inlined: [String]) -> JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            ("address", jsonAddress(insn.address)), ("symbol", opt(named.address)),
            ("bytes", .string(insn.hexBytes)), ("mnemonic", .string(insn.mnemonic)), ("operands", .string(insn.operands)),
            ("target", insn.branchTarget.map(jsonAddress) ?? .null), ("target_symbol", opt(named.target)),
            ("reference", insn.memoryReference.map(jsonAddress) ?? .null), ("reference_symbol", opt(named.reference)),
            ("current", .bool(current)), ("file", opt(file)), ("line", line.map { .int(Int64($0)) } ?? .null),
            ("inlined", .array(inlined.map { .string($0) })),
        ])
    }

    /// The fields `dis` and `disassemble` share.
    func fields(function: CodeFunction?, start: UInt64, end: UInt64, rows: [JSONValue]) -> [(String, JSONValue)] {
        [("function", function.map { .string($0.name) } ?? .null), ("module", function?.module.map { .string($0) } ?? .null),
         ("start", jsonAddress(start)), ("end", jsonAddress(end)), ("flavor", .string(disassembler.flavor.rawValue)),
         ("instructions", .array(rows))]
    }
}
