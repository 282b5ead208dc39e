import MKFormat
import MKKernel
import MKDisassembly

/// crash's `dis`: a whole function by name, COUNT instructions from an
/// address, `-r` from the function's start up to the address, `-l` with
/// source lines. Code is read from the target's memory.
enum DisCommand {
    static let usage = "dis [-r] [-l] FUNC|ADDR [COUNT]"

    static let spec = CommandSpec(
        name: "dis", group: "symbols",
        summary: "disassemble a function or COUNT instructions from an address, as crash's dis",
        usage: usage,
        details: """

            FUNC alone lists the whole function (its symbol's size; DWARF's low_pc–high_pc for a sizeless
            one; a module's from its kallsyms); an address alone lists one instruction, COUNT that many.
            Direct call and jump targets are named; rip-relative operands get a # 0x… <sym> comment; the
            selected frame's pc is marked =>. AT&T by default: set disassembly-flavor intel.
            """,
        examples: ["dis panic", "dis -l panic", "dis 0xffffffff81000000 8", "dis -r panic+40", "dis pvpanic_panic_notify"],
        arguments: [ArgumentSpec("FUNC|ADDR", .symbol, expected: "a function or an address"),
                    ArgumentSpec("COUNT", .integer, .optional, expected: "a number of instructions")],
        options: [.flag("-r", help: "from the start of the function up to and including ADDR"),
                  .flag("-l", help: "source lines (file:line from the line table, inlined functions named)")],
        json: ["function", "module", "start", "end", "flavor", "instructions"],
        excess: "expected a function or an address and a count"
    ) { args, session in
        let listing = try DisassemblyListing(session)
        let word = args.argument("FUNC|ADDR") ?? ""
        var count: Int?
        if let c = args.argument("COUNT") {
            guard let n = Int(c), n >= 1, n <= Disassembler.maxInstructions else {
                throw CommandError.usage(command: "dis", message: "COUNT must be from 1 to \(Disassembler.maxInstructions)", usage: usage)
            }
            count = n
        }
        if args.has("-r") && count != nil {
            throw CommandError.usage(command: "dis", message: "-r takes no COUNT", usage: usage)
        }
        let named = listing.names.function(named: word)
        let address = try named?.start ?? listing.address(of: word, session)
        var function = named
        let instructions: [Instruction]
        if args.has("-r") {
            let f = try listing.function(containing: address)
            function = f
            // Through the instruction that holds ADDR.
            let all = try listing.disassembler.disassemble(listing.memory, range: f.start..<min(f.range.upperBound, address &+ 1))
            instructions = all
        } else if let count {
            function = function ?? listing.names.function(containing: address)
            instructions = try listing.disassembler.disassemble(listing.memory, from: address, count: count)
        } else if let f = named {
            guard f.size > 0 else {
                throw CommandError.invalidArgument(f.name, message: "dis: \(f.name) has no size in the symbol table or DWARF; give a COUNT")
            }
            instructions = try listing.disassembler.disassemble(listing.memory, range: f.range)
        } else {
            function = listing.names.function(containing: address)
            instructions = try listing.disassembler.disassemble(listing.memory, from: address, count: 1)
        }
        let (lines, rows) = listing.render(instructions, .init(source: args.has("-l")))
        let end = instructions.last?.end ?? address
        return CommandOutput(text: lines.joined(separator: "\n"),
                             fields: listing.fields(function: function, start: instructions.first?.address ?? address, end: end, rows: rows))
    }
}
