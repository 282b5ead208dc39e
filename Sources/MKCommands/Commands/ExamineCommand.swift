import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

enum ExamineCommand {
    static let usage = "x[/NFU] [-p] ADDRESS   (N count, F format x d u o t c a s z i, U unit b h w g)"
    static let maxStringLength = 200

    static let spec = CommandSpec(
        name: "x", group: "memory",
        summary: "examine memory, as gdb's x",
        usage: usage,
        examples: ["x/4xg init_task", "x/s init_uts_ns+4", "x/3i panic", "x/16xb 0xffffffff81000000", "x -p 0x1000"],
        arguments: [.address("ADDRESS", .many)],
        options: [.flag("-p", help: "physical memory (ADDRESS a number or symbol±offset)")],
        json: ["address", "physical", "format", "unit", "count", "next", "rows"],
        takesExpression: true
    ) { args, session in
        let target = try session.requireTarget()
        var physical = args.has("-p")
        let format = try ExamineFormat.parse(args.format ?? "", previous: session.examineState.format)
        let address: UInt64
        if let text = args.argument("ADDRESS") {
            address = try ExamineCommand.address(of: text, session, physical: physical)
        } else {
            guard let next = session.examineState.nextAddress else {
                throw CommandError.usage(command: "x", message: "expected an address", usage: usage)
            }
            address = next
            physical = session.examineState.physical
        }
        let reader = Reader(target: target, physical: physical)
        let (text, next, rows) = format.format == "i" ? try instructions(session, address, format, physical: physical)
                                                      : try examine(reader, address, format)
        session.examineState = ExamineState(format: format, nextAddress: next, physical: physical)
        return CommandOutput(text: text, fields: [
            ("address", jsonAddress(address)), ("physical", .bool(physical)), ("format", .string(String(format.format))),
            ("unit", .int(Int64(format.unit))), ("count", .int(Int64(format.count))), ("next", jsonAddress(next)),
            ("rows", .array(rows))])
    }

    /// gdb's rules: a struct, array or function lvalue means its address;
    /// a pointer or integer value is the address. Without DWARF, numbers
    /// and symbol±offset still work.
    static func address(of text: String, _ session: Session, physical: Bool, command: String = "x") throws -> UInt64 {
        let target = try session.requireTarget()
        if physical || target.vmlinux == nil {
            return try AddressExpression.evaluate(text, target: target)
        }
        let evaluator = try session.evaluator()
        let value = try ExpressionRunner.evaluate(text, evaluator)
        let r = value.type.resolved
        switch r.kind {
        case .structure, .union, .array, .function:
            guard let a = value.address else { throw CommandError.notInMemory(expression: text, message: "\(command): \(text) is not in memory") }
            return a
        default:
            guard value.type.isScalar else { throw CommandError.wrongType(expression: text, type: "\(value.type)", message: "\(command): cannot use a value of type \(value.type) as an address") }
            return try value.integerBits(target.memory)
        }
    }

    /// `x/Ni`: N instructions as gdb shows them (the selected frame's pc
    /// marked `=>`); a bare `x` goes on after the last.
    static func instructions(_ session: Session, _ address: UInt64, _ f: ExamineFormat,
                             physical: Bool) throws -> (String, UInt64, [JSONValue]) {
        guard !physical else { throw CommandError.invalidArgument("-p", message: "x/i reads code at virtual addresses; drop -p") }
        let listing = try DisassemblyListing(session)
        let insns = try listing.disassembler.disassemble(listing.memory, from: address, count: f.count)
        let (lines, _) = listing.render(insns, .init(alwaysIndent: true))
        let rows: [JSONValue] = insns.map { i in
            .object([("address", jsonAddress(i.address)), ("values", .array([.string(i.text)]))])
        }
        return (lines.joined(separator: "\n"), insns.last?.end ?? address, rows)
    }

    struct Reader {
        let target: Target
        let physical: Bool

        func read(_ address: UInt64, _ count: Int) throws -> [UInt8] {
            physical ? try target.memory.readPhysical(address, count: count)
                     : try target.memory.readVirtual(address, count: count)
        }

        func label(_ address: UInt64) -> String {
            let a = "0x" + String(address, radix: 16)
            guard !physical, let (s, off) = target.symbols?.symbolize(address) else { return a + ":" }
            return off == 0 ? "\(a) <\(s.name)>:" : "\(a) <\(s.name)+\(off)>:"
        }
    }

    static func examine(_ reader: Reader, _ start: UInt64, _ f: ExamineFormat) throws -> (String, UInt64, [JSONValue]) {
        var lines: [String] = []
        var rows: [JSONValue] = []
        var address = start
        if f.format == "s" {
            for _ in 0..<f.count {
                try Cancellation.check()
                let (text, length) = try readString(reader, address)
                lines.append("\(reader.label(address))\t\(text)")
                rows.append(.object([("address", jsonAddress(address)), ("values", .array([.string(text)]))]))
                guard let next = checkedAdd(address, UInt64(length)) else { break }
                address = next
            }
            return (lines.joined(separator: "\n"), address, rows)
        }
        let symbolize: (UInt64) -> String? = { v in
            guard let (s, off) = reader.target.symbols?.symbolize(v) else { return nil }
            return off == 0 ? s.name : "\(s.name)+\(off)"
        }
        var remaining = f.count
        while remaining > 0 {
            try Cancellation.check()
            let n = min(remaining, f.perLine)
            let bytes = try reader.read(address, n * f.unit)
            var line = reader.label(address)
            var values: [JSONValue] = []
            for i in 0..<n {
                var v: UInt64 = 0
                for b in stride(from: f.unit - 1, through: 0, by: -1) { v = (v << 8) | UInt64(bytes[i * f.unit + b]) }
                let shown = f.render(v, symbolize: symbolize)
                line += "\t" + shown
                values.append(.string(shown))
            }
            lines.append(line)
            rows.append(.object([("address", jsonAddress(address)), ("values", .array(values))]))
            remaining -= n
            guard let next = checkedAdd(address, UInt64(n * f.unit)) else { break }
            address = next
        }
        return (lines.joined(separator: "\n"), address, rows)
    }

    /// A C string as gdb shows it: quoted, escaped, cut at 200 characters
    /// with "..." after. Returns the text and the bytes consumed.
    static func readString(_ reader: Reader, _ address: UInt64) throws -> (String, Int) {
        var bytes: [UInt8] = []
        var at = address
        var terminated = false
        while bytes.count < maxStringLength {
            let chunk = Int(64 - (at & 63))
            let got = try reader.read(at, chunk)
            if let nul = got.firstIndex(of: 0) {
                bytes += got[..<nul]
                terminated = true
                break
            }
            bytes += got
            guard let next = checkedAdd(at, UInt64(chunk)) else { break }
            at = next
        }
        if bytes.count > maxStringLength { bytes = Array(bytes.prefix(maxStringLength)); terminated = false }
        let body = bytes.map { ExamineFormat.escape($0, quote: "\"") }.joined()
        return ("\"" + body + "\"" + (terminated ? "" : "..."), bytes.count + (terminated ? 1 : 0))
    }
}
