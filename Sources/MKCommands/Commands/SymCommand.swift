import MKFormat
import MKDebugInfo
import MKKernel

enum SymCommand {
    static let spec = CommandSpec(
        name: "sym", group: "symbols",
        summary: "symbol to address, or address to symbol+offset",
        usage: "sym NAME | sym ADDRESS",
        examples: ["sym init_uts_ns", "sym 0xffffffff81000000", "sym schedule+0x10"],
        arguments: [ArgumentSpec("NAME|ADDRESS", .symbol, expected: "one name or address")],
        json: ["address", "name", "offset", "symbol_address", "size", "kind", "global", "letter", "module"],
        excess: "expected one name or address"
    ) { args, session in
        let target = try session.requireTarget()
        let word = args.argument("NAME|ADDRESS") ?? ""
        let symbols = try target.requireSymbols()
        // Modules' code is named from their own kallsyms (`[pvpanic]`), as bt names it.
        func moduleNames() -> CodeNames? {
            guard let context = session.current else { return nil }
            return CodeNames(target: target, kernel: { try context.kernel() })
        }
        if AddressExpression.parseNumber(word) == nil && !word.contains("+") && !word.contains("-") {
            if symbols.lookup(word) == nil, let f = moduleNames()?.function(named: word), let module = f.module {
                return CommandOutput(text: "\(hexDigits(f.start)) (t) \(f.name) [\(module)]" + (f.size > 0 ? " size \(f.size)" : ""),
                                     fields: moduleFields(f.name, module: module, address: f.start, start: f.start, size: f.size))
            }
            let s = try symbols.require(word)
            return CommandOutput(text: "\(hexDigits(s.address)) (\(letter(s))) \(s.name)" + (s.size > 0 ? " size \(s.size)" : ""),
                                 fields: fields(s, address: s.address, offset: 0))
        }
        let address = try AddressExpression.evaluate(word, target: target)
        guard let (s, off) = symbols.symbolize(address) else {
            if let names = moduleNames(), let hit = names.symbol(at: address), let module = hit.module {
                let (name, off) = (hit.name, hit.offset)
                let f = names.function(containing: address)
                return CommandOutput(text: "\(hexDigits(address)) (t) \(name)" + (off == 0 ? "" : "+\(hex(off))") + " [\(module)]",
                                     fields: moduleFields(name, module: module, address: address, start: address &- off, size: f?.size ?? 0))
            }
            throw CommandError.unknownName(hex(address), message: "no symbol contains address \(hex(address))")
        }
        return CommandOutput(text: "\(hexDigits(address)) (\(letter(s))) \(s.name)" + (off == 0 ? "" : "+\(hex(off))"),
                             fields: fields(s, address: address, offset: off))
    }

    static func fields(_ s: Symbol, address: UInt64, offset: UInt64) -> [(String, JSONValue)] {
        [("address", jsonAddress(address)), ("name", .string(s.name)), ("offset", .uint(offset)),
         ("symbol_address", jsonAddress(s.address)), ("size", .uint(s.size)), ("kind", .string(s.kind.rawValue)),
         ("global", .bool(s.isGlobal)), ("letter", .string(letter(s))), ("module", .null)]
    }

    static func moduleFields(_ name: String, module: String, address: UInt64, start: UInt64, size: UInt64) -> [(String, JSONValue)] {
        [("address", jsonAddress(address)), ("name", .string(name)), ("offset", .uint(address &- start)),
         ("symbol_address", jsonAddress(start)), ("size", .uint(size)), ("kind", .string("function")),
         ("global", .null), ("letter", .string("t")), ("module", .string(module))]
    }

    /// nm-style type letter: T/t text, D/d data, upper case when global.
    static func letter(_ s: Symbol) -> String {
        let l: String
        switch s.kind {
        case .function: l = "t"
        case .object: l = "d"
        case .other: l = "?"
        }
        return s.isGlobal ? l.uppercased() : l
    }
}

func hexDigits(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
