import MKFormat
import MKDebugInfo

/// Address arguments where the C expression language cannot apply
/// (physical addresses, targets without DWARF): a number (hex with 0x, or
/// decimal), a symbol, or either followed by +/- numbers.
enum AddressExpression {
    static func parseNumber(_ text: String) -> UInt64? {
        let t = text.lowercased()
        if t.hasPrefix("0x") { return UInt64(t.dropFirst(2), radix: 16) }
        if t.hasPrefix("-") { return Int64(t).map { UInt64(bitPattern: $0) } }
        return UInt64(t)
    }

    static func evaluate(_ text: String, target: Target?) throws -> UInt64 {
        let expr = String(text.filter { $0 != " " && $0 != "\t" })
        guard !expr.isEmpty else { throw CommandError.invalidArgument(text, message: "expected an address") }
        var terms: [(sign: Int, text: String)] = []
        var current = ""
        var sign = 1
        for c in expr {
            if (c == "+" || c == "-") && !current.isEmpty {
                terms.append((sign, current))
                current = ""
                sign = c == "+" ? 1 : -1
            } else {
                current.append(c)
            }
        }
        terms.append((sign, current))
        var value: UInt64 = 0
        for (i, term) in terms.enumerated() {
            var v: UInt64
            if let n = parseNumber(term.text) {
                v = n
            } else if i == 0, let first = term.text.first, first == "_" || first.isLetter {
                guard let target else { throw CommandError.noTarget }
                v = try target.address(of: term.text.hasPrefix("&") ? String(term.text.dropFirst()) : term.text)
            } else if i == 0, term.text.hasPrefix("&") {
                guard let target else { throw CommandError.noTarget }
                v = try target.address(of: String(term.text.dropFirst()))
            } else {
                throw CommandError.invalidArgument(text, message: "cannot parse \"\(term.text)\" in address \"\(text)\": expected a number or a symbol")
            }
            if term.sign < 0 { v = 0 &- v }
            value = value &+ v
        }
        return value
    }
}
