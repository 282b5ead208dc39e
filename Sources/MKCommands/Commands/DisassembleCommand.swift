import MKSystem
import MKFormat
import MKKernel
import MKDisassembly

/// gdb's `disassemble`: the function around an address (the selected
/// frame's pc when none is given), or a range `START,END` / `START,+LEN`;
/// `/r` shows the raw bytes, `/s` (and `/m`) the source lines.
enum DisassembleCommand {
    static let usage = "disassemble[/r][/s] [FUNC|ADDR|START,END|START,+LEN]"

    static let spec = CommandSpec(
        name: "disassemble", group: "symbols",
        summary: "disassemble a function or an address range, as gdb's disassemble",
        usage: usage,
        details: """

            Without an argument, the function of the selected frame's pc. /r adds the bytes, /s the source
            lines (/m is taken as /s). The selected frame's pc is marked =>.
            """,
        examples: ["disassemble panic", "disassemble/r panic", "disassemble/s panic",
                   "disassemble 0xffffffff81000000,0xffffffff81000020", "disassemble panic,+32"],
        arguments: [ArgumentSpec("FUNC|ADDR|START,END|START,+LEN", .address, .optional, raw: true,
                                 expected: "a function, an address or a range")],
        json: ["function", "module", "start", "end", "flavor", "instructions"]
    ) { args, session in
        var style = DisassemblyListing.Style(alwaysIndent: true)
        var text = (args.argument("FUNC|ADDR|START,END|START,+LEN") ?? "").trimmed()
        var modifiers = args.format ?? ""
        // gdb also takes them apart from the name: `disassemble /r panic`.
        while text.hasPrefix("/") {
            let word = text.prefix { $0 != " " && $0 != "\t" }
            modifiers += word
            text = String(text.dropFirst(word.count)).trimmed()
        }
        for c in modifiers where c != "/" {
            switch c {
            case "r": style.rawBytes = true
            case "s", "m": style.source = true
            default:
                throw CommandError.usage(command: "disassemble", message: "unknown modifier /\(c) (r, s, m)", usage: usage)
            }
        }
        let listing = try DisassemblyListing(session)
        var function: CodeFunction?
        let range: Range<UInt64>
        if text.isEmpty {
            guard let pc = listing.markedPC else { throw CommandError.targetState("No frame selected.") }
            let f = try listing.function(containing: pc)
            (function, range) = (f, f.range)
        } else if let comma = topLevelComma(text) {
            let start = try listing.address(of: String(text[..<comma]), session)
            var second = text[text.index(after: comma)...].trimmed()
            let end: UInt64
            if second.hasPrefix("+") {
                second.removeFirst()
                let length = try listing.address(of: second, session)
                let (e, overflow) = start.addingReportingOverflow(length)
                guard !overflow else { throw CommandError.outOfRange(value: length, minimum: nil, maximum: UInt64.max - start, message: "disassemble: \(hex(start)) + \(hex(length)) overflows") }
                end = e
            } else {
                end = try listing.address(of: second, session)
            }
            guard start < end else { throw CommandError.invalidArgument("\(hex(start)),\(hex(end))", message: "disassemble: the range \(hex(start)),\(hex(end)) is empty") }
            range = start..<end
        } else {
            let f = try listing.function(containing: try listing.address(of: text, session))
            (function, range) = (f, f.range)
        }
        let instructions = try listing.disassembler.disassemble(listing.memory, range: range)
        let (lines, rows) = listing.render(instructions, style)
        let head = function.map { "Dump of assembler code for function \($0.name)" + ($0.module.map { " [\($0)]" } ?? "") + ":" }
            ?? "Dump of assembler code from \(hex(range.lowerBound)) to \(hex(range.upperBound)):"
        let out = ([head] + lines + ["End of assembler dump."]).joined(separator: "\n")
        return CommandOutput(text: out, fields: listing.fields(function: function, start: range.lowerBound,
                                                               end: range.upperBound, rows: rows))
    }

    /// The comma between START and END, outside parentheses and brackets.
    static func topLevelComma(_ text: String) -> String.Index? {
        var depth = 0
        var i = text.startIndex
        while i < text.endIndex {
            switch text[i] {
            case "(", "[": depth += 1
            case ")", "]": depth -= 1
            case "," where depth == 0: return i
            default: break
            }
            i = text.index(after: i)
        }
        return nil
    }
}
