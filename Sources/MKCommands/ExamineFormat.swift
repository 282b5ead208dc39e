import MKValues
/// gdb's `/NFU` for `x`: count, format letter and unit size.
struct ExamineFormat: Equatable {
    var count: Int = 1
    var format: Character = "x"
    var unit: Int = 4

    static let formats: Set<Character> = ["x", "d", "u", "o", "t", "c", "a", "s", "z", "i"]
    static let units: [Character: Int] = ["b": 1, "h": 2, "w": 4, "g": 8]
    static let maxCount = 1 << 20

    /// Parses `NFU` (any order of F and U after N), starting from the last
    /// format and unit used, as gdb does.
    static func parse(_ text: String, previous: ExamineFormat) throws -> ExamineFormat {
        var f = previous
        f.count = 1
        var digits = ""
        var rest = Substring(text)
        while let c = rest.first, c.isNumber { digits.append(c); rest = rest.dropFirst() }
        if !digits.isEmpty {
            guard let n = Int(digits), n > 0, n <= maxCount else {
                throw CommandError.outOfRange(value: UInt64(digits), minimum: 1, maximum: UInt64(maxCount), message: "x: count \(digits) out of range 1...\(maxCount)")
            }
            f.count = n
        }
        var unitGiven = false
        for c in rest {
            if formats.contains(c) {
                f.format = c
            } else if let u = units[c] {
                f.unit = u
                unitGiven = true
            } else {
                throw CommandError.invalidArgument("/" + text, message: "x: unknown format letter '\(c)' in /\(text); formats are x d u o t c a s z i, units b h w g")
            }
        }
        if !unitGiven {
            if f.format == "a" { f.unit = 8 }
            if f.format == "c" || f.format == "s" { f.unit = 1 }
        }
        if f.format == "a" && f.unit != 8 { f.unit = 8 }
        return f
    }

    var perLine: Int {
        switch format {
        case "a": return 2
        case "c": return 8
        case "s": return 1
        default:
            switch unit {
            case 1, 2: return 8
            case 4: return 4
            default: return 2
            }
        }
    }

    /// One value as gdb prints it in this format.
    func render(_ raw: UInt64, symbolize: (UInt64) -> String?) -> String {
        let bits = unit * 8
        let mask: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
        let v = raw & mask
        switch format {
        case "x", "z":
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, unit * 2 - s.count)) + s
        case "d":
            let signBit: UInt64 = 1 << UInt64(bits - 1)
            if v & signBit != 0 {
                let magnitude = (~v &+ 1) & mask
                return "-" + String(magnitude)
            }
            return String(v)
        case "u":
            return String(v)
        case "o":
            return v == 0 ? "0" : "0" + String(v, radix: 8)
        case "t":
            let s = String(v, radix: 2)
            return String(repeating: "0", count: max(0, bits - s.count)) + s
        case "c":
            let signed = Int8(bitPattern: UInt8(truncatingIfNeeded: v))
            return "\(signed) \(Self.charLiteral(UInt8(truncatingIfNeeded: v)))"
        case "a":
            let addr = "0x" + String(v, radix: 16)
            if let s = symbolize(v) { return "\(addr) <\(s)>" }
            return addr
        default:
            return String(v)
        }
    }

    static func charLiteral(_ b: UInt8) -> String {
        "'" + escape(b, quote: "'") + "'"
    }

    static func escape(_ b: UInt8, quote: Character) -> String { CEscape.escape(b, quote: quote) }
}

/// What `x` remembers between uses: the format and the next address.
struct ExamineState {
    var format = ExamineFormat()
    var nextAddress: UInt64?
    var physical = false
}
