import MKFormat
import MKDebugInfo

/// Prints values the way gdb's `print` does with `set print pretty on`:
/// structs nested and indented, char arrays as strings, runs of equal
/// elements as `<repeats N times>`, pointers with the symbol they point
/// into. `limits` bounds each array and the whole text (`PrintLimits`).
public struct ValueFormatter {
    /// gdb's `/FMT` letter: x d u o t c a s z, or nil for natural.
    public var format: Character?
    public var limits = PrintLimits()
    public var maxDepth = 12
    let memory: ValueMemory
    let symbolize: (UInt64) -> String?

    public init(memory: ValueMemory, format: Character? = nil, limits: PrintLimits = PrintLimits(),
                symbolize: @escaping (UInt64) -> String?) {
        self.memory = memory
        self.format = format
        self.limits = limits
        self.symbolize = symbolize
    }

    /// What is left of one print's allowance: characters of text, and bytes
    /// and comparisons spent looking for runs of equal elements.
    final class Budget {
        var characters: Int
        var scanBytes = PrintLimits.repeatScanBytes
        var comparisons = 1 << 20
        var truncated = false

        init(characters: Int) { self.characters = characters }

        func charge(_ text: String) -> String {
            characters -= text.utf8.count
            return text
        }

        /// True (and marks the output truncated) once nothing is left.
        func stop() -> Bool {
            guard characters <= 0 else { return false }
            truncated = true
            return true
        }
    }

    /// The text after `$N = `, with a note on its own line when it would be
    /// longer than `limits.outputLimit`.
    public func top(_ value: Value) throws -> String {
        let budget = Budget(characters: max(1, limits.outputLimit))
        var text = try topText(value, budget)
        if budget.truncated {
            text += "\n<output truncated: the value's text is longer than \(limits.outputLimit) characters (set print output-limit)>"
        }
        return text
    }

    func topText(_ value: Value, _ budget: Budget) throws -> String {
        if value.isOptimizedOut { return budget.charge("<optimized out>") }
        let r = value.type.resolved
        if format == nil {
            if r.kind == .pointer {
                let bits = try value.integerBits(memory)
                let target = r.target?.resolved
                if target?.kind == .function {
                    return "(\(TypeFormatter.name(of: value.type))) " + pointerText(bits)
                }
                return "(\(TypeFormatter.name(of: value.type))) " + (try pointerWithString(bits, r, budget))
            }
            if r.kind == .function, let a = value.address {
                return "{\(TypeFormatter.name(of: value.type))} " + pointerText(a)
            }
        }
        return try render(value, indent: 0, depth: 0, budget)
    }

    func render(_ value: Value, indent: Int, depth: Int, _ budget: Budget) throws -> String {
        if value.isOptimizedOut { return budget.charge("<optimized out>") }
        let r = value.type.resolved
        switch r.kind {
        case .structure, .union:
            // One read for the whole object: faster, and an unreadable
            // object fails as a whole instead of member by member.
            if case .memory = value.location, let size = value.type.byteSize, size <= UInt64(ValueLimits.maxRead) {
                return try aggregate(Value(type: value.type, bytes: try value.load(memory)), r, indent: indent, depth: depth, budget)
            }
            return try aggregate(value, r, indent: indent, depth: depth, budget)
        case .array:
            return try array(value, r, indent: indent, depth: depth, budget)
        case .function:
            return budget.charge(value.address.map { "{\(TypeFormatter.name(of: value.type))} " + pointerText($0) } ?? "{\(TypeFormatter.name(of: value.type))}")
        case .void:
            return budget.charge("void")
        case .float:
            let raw = try value.load(memory)
            return budget.charge(floatText(raw))
        default:
            return budget.charge(try scalar(value, r, budget))
        }
    }

    func scalar(_ value: Value, _ r: CType, _ budget: Budget) throws -> String {
        let bits = try value.integerBits(memory)
        // gdb formats a bitfield at its declared type's width (p/d of an unsigned :1 is 1).
        let size = Int(min(max(r.byteSize ?? 8, 1), 8) * 8)
        if let f = format { return formatted(bits, f, bits: size, signed: r.isSigned) }
        switch r.kind {
        case .bool:
            return bits == 0 ? "false" : (bits == 1 ? "true" : String(bits))
        case .enumeration:
            return enumText(Int64(bitPattern: bits), r)
        case .pointer:
            let target = r.target?.resolved
            if target?.kind == .function { return pointerText(bits) }
            return try pointerWithString(bits, r, budget)
        default:
            if isCharType(r) && value.bitSize == nil {
                let signedValue = r.isSigned ? String(Int8(truncatingIfNeeded: bits)) : String(UInt8(truncatingIfNeeded: bits))
                return "\(signedValue) \(charLiteral(UInt8(truncatingIfNeeded: bits)))"
            }
            return r.isSigned ? String(Int64(bitPattern: bits)) : String(bits)
        }
    }

    func isCharType(_ t: CType) -> Bool {
        guard t.kind == .integer, t.byteSize == 1, let n = t.name else { return false }
        return n.contains("char")
    }

    public func formatted(_ v: UInt64, _ f: Character, bits requested: Int, signed: Bool) -> String {
        let bits = min(max(requested, 1), 64)
        let mask: UInt64 = bits >= 64 ? .max : (1 << UInt64(bits)) - 1
        let m = v & mask
        switch f {
        case "x": return "0x" + String(m, radix: 16)
        case "z":
            let s = String(m, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, (bits + 3) / 4 - s.count)) + s
        case "o": return m == 0 ? "0" : "0" + String(m, radix: 8)
        case "t": return String(m, radix: 2)
        case "d":
            if bits < 64 && m & (1 << UInt64(bits - 1)) != 0 { return "-" + String((~m &+ 1) & mask) }
            return String(Int64(bitPattern: m))
        case "u": return String(m)
        case "c": return "\(Int8(truncatingIfNeeded: m)) \(charLiteral(UInt8(truncatingIfNeeded: m)))"
        case "a", "s": return pointerText(m)
        default: return signed ? String(Int64(bitPattern: v)) : String(m)
        }
    }

    func enumText(_ v: Int64, _ t: CType) -> String {
        if let e = t.enumerators.first(where: { $0.value == v }) { return e.name }
        // Flag enums: gdb shows (A | B | unknown: 0x..).
        var rest = UInt64(bitPattern: v)
        var parts: [String] = []
        for e in t.enumerators where e.value > 0 && UInt64(e.value).nonzeroBitCount == 1 && rest & UInt64(e.value) != 0 {
            parts.append(e.name)
            rest &= ~UInt64(e.value)
        }
        if !parts.isEmpty && parts.count > 0 && v > 0 {
            if rest != 0 { parts.append("unknown: 0x" + String(rest, radix: 16)) }
            return "(" + parts.joined(separator: " | ") + ")"
        }
        return String(v)
    }

    func pointerText(_ v: UInt64) -> String {
        let a = "0x" + String(v, radix: 16)
        if v != 0, let s = symbolize(v) { return a + " <" + s + ">" }
        return a
    }

    /// `char *` pointers also show the string they point to, as gdb does.
    func pointerWithString(_ v: UInt64, _ r: CType, _ budget: Budget) throws -> String {
        var text = pointerText(v)
        if let target = r.target?.resolved, isCharType(target), v != 0 {
            do { text += " " + (try readCString(v, budget)) }
            catch let e as Interrupted { throw e }
            catch { text += " <error: cannot access memory at address 0x\(String(v, radix: 16))>" }
        }
        return text
    }

    /// Up to `print elements` characters of a NUL-terminated string, and
    /// never more than the output budget.
    func readCString(_ address: UInt64, _ budget: Budget) throws -> String {
        let limit = min(limits.elements ?? Int.max, max(budget.characters, 1))
        var bytes: [UInt8] = []
        var at = address
        var terminated = false
        while bytes.count < limit {
            try Cancellation.check()
            let chunk = Int(64 - (at & 63))
            let got = try memory.readVirtual(at, count: chunk)
            if let nul = got.firstIndex(of: 0) { bytes += got[..<nul]; terminated = true; break }
            bytes += got
            at &+= UInt64(chunk)
        }
        if bytes.count > limit { bytes = Array(bytes.prefix(limit)); terminated = false }
        if !terminated && limit < (limits.elements ?? Int.max) { budget.truncated = true }
        return quoted(bytes) + (terminated ? "" : "...")
    }

    func aggregate(_ value: Value, _ r: CType, indent: Int, depth: Int, _ budget: Budget) throws -> String {
        if depth >= maxDepth { return budget.charge("{...}") }
        if r.members.isEmpty { return budget.charge("{}") }
        let pad = String(repeating: "  ", count: indent + 1)
        var parts: [String] = []
        for m in r.members {
            if budget.stop() {
                parts.append(pad + "...")
                break
            }
            let text: String
            do {
                let member = try memberValue(value, m)
                text = try render(member, indent: indent + 1, depth: depth + 1, budget)
            } catch let e as Interrupted {
                throw e
            } catch {
                text = budget.charge("<error: \(error)>")
            }
            let line = m.name.map { pad + $0 + " = " + text } ?? pad + text
            budget.characters -= pad.utf8.count + (m.name?.utf8.count ?? 0) + 5
            parts.append(line)
        }
        return "{\n" + parts.joined(separator: ",\n") + "\n" + String(repeating: "  ", count: indent) + "}"
    }

    /// A member of a struct value, as an lvalue when the struct is one.
    public func memberValue(_ value: Value, _ m: CType.Member) throws -> Value {
        try value.component(m, offset: m.offset)
    }

    func array(_ value: Value, _ r: CType, indent: Int, depth: Int, _ budget: Budget) throws -> String {
        guard let element = r.target else { return budget.charge("{}") }
        let count = r.count ?? 0
        let e = element.resolved
        if isCharType(e) && (format == nil || format == "s") {
            // The whole array when it can be read at once, else its start.
            let wanted = min(count, UInt64(ValueLimits.maxRead))
            let raw: [UInt8]
            switch value.location {
            case .computed: raw = Array(value.bytes.prefix(Int(wanted)))
            case let .memory(address):
                guard r.count != nil else { throw ValueError.incomplete(value.type.description) }
                raw = try memory.readVirtual(address, count: Int(wanted))
            }
            return budget.charge(charArray(raw, complete: UInt64(raw.count) == count))
        }
        guard let esize = element.byteSize, esize > 0, count > 0 else { return budget.charge("{}") }
        var reader = ArrayElements(value: value, count: count, elementSize: esize, memory: memory)
        let limit = limits.elements ?? Int.max
        budget.characters -= 2
        var parts: [String] = []
        var i: UInt64 = 0
        var shown = 0
        while i < count && shown < limit {
            try Cancellation.check()
            if budget.stop() { break }
            let bytes = try reader.bytes(i, budget)
            // Runs of equal elements, compared by their bytes as gdb does.
            var run: UInt64 = 1
            if limits.repeats != nil, let bytes {
                while i + run < count, budget.comparisons > 0, let next = try reader.bytes(i + run, budget), next == bytes {
                    budget.comparisons -= 1
                    run += 1
                }
            }
            let ev: Value
            if let bytes {
                ev = Value(type: element, bytes: Array(bytes))
            } else if case let .memory(address) = value.location {
                ev = Value(type: element, address: address &+ i &* esize)
            } else {
                ev = Value(type: element, bytes: [])
            }
            let text = try render(ev, indent: indent + 1, depth: depth + 1, budget)
            budget.characters -= 2
            if let threshold = limits.repeats, run > UInt64(threshold) {
                parts.append(budget.charge("\(text) <repeats \(run) times>"))
                shown = shown > limit - threshold ? limit : shown + threshold
                i += run
            } else {
                parts.append(text)
                shown += 1
                i += 1
            }
        }
        return "{" + parts.joined(separator: ", ") + (i < count ? "..." : "") + "}"
    }

    /// A char array as gdb prints it: the final NUL of a complete array
    /// dropped, runs longer than `print repeats` as `'c' <repeats N times>`,
    /// the rest in quotes; `print elements` characters at most, a run
    /// counting in full, then `...`.
    func charArray(_ raw: [UInt8], complete: Bool) -> String {
        var bytes = raw
        // gdb's print null-stop is off: it shows the whole array but treats a
        // final NUL as the terminator; trailing NULs beyond it still show.
        if complete && bytes.last == 0 { bytes.removeLast() }
        if bytes.isEmpty { return complete ? "\"\"" : "\"\"..." }
        let limit = limits.elements ?? Int.max
        var segments: [String] = []
        var pending: [UInt8] = []
        var shown = 0
        var i = 0
        while i < bytes.count && shown < limit {
            var j = i + 1
            while j < bytes.count && bytes[j] == bytes[i] { j += 1 }
            let run = j - i
            if let threshold = limits.repeats, run > threshold {
                if !pending.isEmpty { segments.append(quoted(pending)); pending = [] }
                segments.append("\(charLiteral(bytes[i])) <repeats \(run) times>")
                shown += run
                i = j
            } else {
                let take = min(run, limit - shown)
                pending += bytes[i..<(i + take)]
                shown += take
                i += take
            }
        }
        if !pending.isEmpty { segments.append(quoted(pending)) }
        return segments.joined(separator: ", ") + (i < bytes.count || !complete ? "..." : "")
    }

    func quoted(_ bytes: [UInt8]) -> String {
        "\"" + bytes.map { escape($0, quote: "\"") }.joined() + "\""
    }

    func charLiteral(_ b: UInt8) -> String { "'" + escape(b, quote: "'") + "'" }

    func escape(_ b: UInt8, quote: Character) -> String { CEscape.escape(b, quote: quote) }

    func floatText(_ raw: [UInt8]) -> String {
        var v: UInt64 = 0
        for (i, b) in raw.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if raw.count == 4 { return String(Float(bitPattern: UInt32(truncatingIfNeeded: v))) }
        if raw.count == 8 { return String(Double(bitPattern: v)) }
        return "<\(raw.count)-byte float>"
    }
}

/// C's escapes for one byte inside a quoted char or string, as gdb prints them.
public enum CEscape {
    public static func escape(_ b: UInt8, quote: Character) -> String {
        switch b {
        case 0x07: return "\\a"
        case 0x08: return "\\b"
        case 0x09: return "\\t"
        case 0x0a: return "\\n"
        case 0x0b: return "\\v"
        case 0x0c: return "\\f"
        case 0x0d: return "\\r"
        case 0x1b: return "\\033"
        case 0x5c: return "\\\\"
        default:
            if Character(UnicodeScalar(b)) == quote { return "\\" + String(quote) }
            if b >= 0x20 && b < 0x7f { return String(UnicodeScalar(b)) }
            let o = String(b, radix: 8)
            return "\\" + String(repeating: "0", count: max(0, 3 - o.count)) + o
        }
    }
}
