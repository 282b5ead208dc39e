import MKFormat
import MKDebugInfo

/// Prints values the way gdb's `print` does with `set print pretty on`:
/// structs nested and indented, char arrays as strings with
/// `<repeats N times>`, pointers with the symbol they point into.
public struct ValueFormatter {
    /// gdb's `/FMT` letter: x d u o t c a s z, or nil for natural.
    public var format: Character?
    public var repeatThreshold = 10
    public var printElements = 200
    public var maxDepth = 12
    let memory: ValueMemory
    let symbolize: (UInt64) -> String?

    public init(memory: ValueMemory, format: Character? = nil, symbolize: @escaping (UInt64) -> String?) {
        self.memory = memory
        self.format = format
        self.symbolize = symbolize
    }

    /// The text after `$N = `.
    public func top(_ value: Value) throws -> String {
        let r = value.type.resolved
        if format == nil {
            if r.kind == .pointer {
                let bits = try value.integerBits(memory)
                let target = r.target?.resolved
                if target?.kind == .function {
                    return "(\(TypeFormatter.name(of: value.type))) " + pointerText(bits)
                }
                return "(\(TypeFormatter.name(of: value.type))) " + (try pointerWithString(bits, r))
            }
            if r.kind == .function, let a = value.address {
                return "{\(TypeFormatter.name(of: value.type))} " + pointerText(a)
            }
        }
        return try render(value, indent: 0, depth: 0)
    }

    func render(_ value: Value, indent: Int, depth: Int) throws -> String {
        let r = value.type.resolved
        switch r.kind {
        case .structure, .union:
            // One read for the whole object: faster, and an unreadable
            // object fails as a whole instead of member by member.
            if case .memory = value.location, let size = value.type.byteSize, size <= UInt64(ValueLimits.maxRead) {
                return try aggregate(Value(type: value.type, bytes: try value.load(memory)), r, indent: indent, depth: depth)
            }
            return try aggregate(value, r, indent: indent, depth: depth)
        case .array:
            return try array(value, r, indent: indent, depth: depth)
        case .function:
            return value.address.map { "{\(TypeFormatter.name(of: value.type))} " + pointerText($0) } ?? "{\(TypeFormatter.name(of: value.type))}"
        case .void:
            return "void"
        case .float:
            let raw = try value.load(memory)
            return floatText(raw)
        default:
            return try scalar(value, r)
        }
    }

    func scalar(_ value: Value, _ r: CType) throws -> String {
        let bits = try value.integerBits(memory)
        // gdb formats a bitfield at its declared type's width (p/d of an unsigned :1 is 1).
        let size = Int((r.byteSize ?? 8) * 8)
        if let f = format { return formatted(bits, f, bits: size, signed: r.isSigned) }
        switch r.kind {
        case .bool:
            return bits == 0 ? "false" : (bits == 1 ? "true" : String(bits))
        case .enumeration:
            return enumText(Int64(bitPattern: bits), r)
        case .pointer:
            let target = r.target?.resolved
            if target?.kind == .function { return pointerText(bits) }
            return try pointerWithString(bits, r)
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

    public func formatted(_ v: UInt64, _ f: Character, bits: Int, signed: Bool) -> String {
        let mask: UInt64 = bits >= 64 ? .max : (1 << UInt64(max(bits, 1))) - 1
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
    func pointerWithString(_ v: UInt64, _ r: CType) throws -> String {
        var text = pointerText(v)
        if let target = r.target?.resolved, isCharType(target), v != 0 {
            do { text += " " + (try readCString(v)) }
            catch let e as Interrupted { throw e }
            catch { text += " <error: cannot access memory at address 0x\(String(v, radix: 16))>" }
        }
        return text
    }

    func readCString(_ address: UInt64) throws -> String {
        var bytes: [UInt8] = []
        var at = address
        var terminated = false
        while bytes.count < printElements {
            try Cancellation.check()
            let chunk = Int(64 - (at & 63))
            let got = try memory.readVirtual(at, count: chunk)
            if let nul = got.firstIndex(of: 0) { bytes += got[..<nul]; terminated = true; break }
            bytes += got
            at &+= UInt64(chunk)
        }
        if bytes.count > printElements { bytes = Array(bytes.prefix(printElements)); terminated = false }
        return quoted(bytes) + (terminated ? "" : "...")
    }

    func aggregate(_ value: Value, _ r: CType, indent: Int, depth: Int) throws -> String {
        if depth >= maxDepth { return "{...}" }
        if r.members.isEmpty { return "{}" }
        let pad = String(repeating: "  ", count: indent + 1)
        var parts: [String] = []
        for m in r.members {
            let member = try memberValue(value, m)
            let text: String
            do {
                text = try render(member, indent: indent + 1, depth: depth + 1)
            } catch let e as Interrupted {
                throw e
            } catch {
                text = "<error: \(error)>"
            }
            if let name = m.name { parts.append(pad + name + " = " + text) } else { parts.append(pad + text) }
        }
        return "{\n" + parts.joined(separator: ",\n") + "\n" + String(repeating: "  ", count: indent) + "}"
    }

    /// A member of a struct value, as an lvalue when the struct is one.
    public func memberValue(_ value: Value, _ m: CType.Member) throws -> Value {
        var v: Value
        switch value.location {
        case let .memory(address):
            v = Value(type: m.type, address: address &+ m.offset)
        case .computed:
            let size = Int(m.bitSize != nil ? ((m.bitOffset ?? 0) + (m.bitSize ?? 0) + 7) / 8 : (m.type.byteSize ?? 0))
            let start = Int(m.offset)
            let end = min(value.bytes.count, start + size)
            v = Value(type: m.type, bytes: start < end ? Array(value.bytes[start..<end]) : [])
        }
        v.bitOffset = m.bitOffset
        v.bitSize = m.bitSize
        return v
    }

    func array(_ value: Value, _ r: CType, indent: Int, depth: Int) throws -> String {
        guard let element = r.target else { return "{}" }
        let count = Int(min(r.count ?? 0, UInt64(Int32.max)))
        let e = element.resolved
        if isCharType(e) && (format == nil || format == "s") {
            let raw = try value.load(memory)
            return charArray(raw)
        }
        guard let esize = element.byteSize, esize > 0 else { return "{}" }
        let shown = min(count, printElements)
        // Load once, then slice: one read for the whole shown part.
        var elements: [String] = []
        elements.reserveCapacity(shown)
        if case let .memory(address) = value.location, e.kind != .structure, e.kind != .union, e.kind != .array {
            let total = UInt64(shown) &* esize
            guard total <= UInt64(ValueLimits.maxRead) else { throw ValueError.tooLarge(r.description, total) }
            let raw = try memory.readVirtual(address, count: Int(total))
            for i in 0..<shown {
                try Cancellation.check()
                let s = i * Int(esize)
                let ev = Value(type: element, bytes: Array(raw[s..<(s + Int(esize))]))
                elements.append(try render(ev, indent: indent + 1, depth: depth + 1))
            }
        } else {
            for i in 0..<shown {
                try Cancellation.check()
                let ev: Value
                switch value.location {
                case let .memory(address): ev = Value(type: element, address: address &+ UInt64(i) &* esize)
                case .computed:
                    let s = i * Int(esize)
                    ev = Value(type: element, bytes: s + Int(esize) <= value.bytes.count ? Array(value.bytes[s..<(s + Int(esize))]) : [])
                }
                elements.append(try render(ev, indent: indent + 1, depth: depth + 1))
            }
        }
        // Collapse runs of equal elements, as gdb does.
        var parts: [String] = []
        var i = 0
        while i < elements.count {
            var j = i + 1
            while j < elements.count && elements[j] == elements[i] { j += 1 }
            let run = j - i
            if run >= repeatThreshold {
                parts.append("\(elements[i]) <repeats \(run) times>")
            } else {
                for _ in 0..<run { parts.append(elements[i]) }
            }
            i = j
        }
        var text = "{" + parts.joined(separator: ", ")
        if count > shown { text += "..." }
        return text + "}"
    }

    /// A char array: the trailing NUL dropped, runs of 10 or more equal
    /// characters as `'c' <repeats N times>`, the rest in quotes.
    func charArray(_ raw: [UInt8]) -> String {
        var bytes = raw
        // gdb's print null-stop is off: it shows the whole array but treats a
        // final NUL as the terminator; trailing NULs beyond it still show.
        if bytes.last == 0 { bytes.removeLast() }
        if bytes.isEmpty { return "\"\"" }
        var limitHit = false
        if bytes.count > printElements { bytes = Array(bytes.prefix(printElements)); limitHit = true }
        var segments: [String] = []
        var pending: [UInt8] = []
        var i = 0
        while i < bytes.count {
            var j = i + 1
            while j < bytes.count && bytes[j] == bytes[i] { j += 1 }
            let run = j - i
            if run > repeatThreshold - 1 && run >= repeatThreshold {
                if !pending.isEmpty { segments.append(quoted(pending)); pending = [] }
                segments.append("\(charLiteral(bytes[i])) <repeats \(run) times>")
            } else {
                pending += bytes[i..<j]
            }
            i = j
        }
        if !pending.isEmpty { segments.append(quoted(pending)) }
        return segments.joined(separator: ", ") + (limitHit ? "..." : "")
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
