import MKFormat
import MKSystem
/// C spellings of types, as gdb's `whatis` and `ptype` print them.
public enum TypeFormatter {
    /// The type's name in C: `struct task_struct *`, `char [16]`, `int (*)(void)`.
    public static func name(of type: CType) -> String {
        declaration(type, "")
    }

    /// A declaration: `char comm[16]`, `struct list_head *next`, `void (*fn)(int)`.
    public static func declaration(_ type: CType, _ declarator: String) -> String {
        var budget = maxParts
        return declaration(type, declarator, depth: 0, budget: &budget)
    }

    /// Types spelled in one name at most (a prototype's parameters are spelled too, and a
    /// hostile one can name itself in each of them).
    static let maxParts = 4096

    /// Nesting (function parameters, anonymous members, `ptype /o`'s expanded structs) stops
    /// here: hostile DWARF or BTF can make a type contain itself.
    static let maxNesting = 24

    /// `ptype /o` lines at most (task_struct, every nested struct expanded: about 1,000 on 6.12).
    static let maxOffsetLines = 100_000

    static func declaration(_ type: CType, _ declarator: String, depth: Int, budget: inout Int) -> String {
        guard depth < maxNesting, budget > 0 else { return "<type nested too deep>" }
        budget -= 1
        var decl = declarator
        var t = type
        var steps = 0
        while steps < 64 {
            steps += 1
            switch t.kind {
            case .pointer:
                let q = qualifiers(t, trailing: true)
                decl = "*" + q + decl
                guard let target = t.target else { return "void " + decl }
                if target.kind == .array || target.kind == .function { decl = "(" + decl + ")" }
                t = target
            case .array:
                decl += "[" + (t.count.map { String($0) } ?? "") + "]"
                guard let e = t.target else { return "void " + decl }
                t = e
            case .function:
                var params: [String] = []
                for p in t.parameters { params.append(declaration(p, "", depth: depth + 1, budget: &budget)) }
                if t.isVariadic { params.append("...") }
                decl += "(" + (params.isEmpty ? (t.isUnprototyped ? "" : "void") : params.joined(separator: ", ")) + ")"
                t = t.target ?? .void
            default:
                let base = qualifiers(t, trailing: false) + baseName(t)
                if decl.isEmpty { return base }
                return base + (decl.hasPrefix("*") || decl.hasPrefix("(") || decl.hasPrefix("[") ? " " : " ") + decl
            }
        }
        return "<type too deep> " + decl
    }

    static func qualifiers(_ t: CType, trailing: Bool) -> String {
        var q: [String] = []
        if t.isConst { q.append("const") }
        if t.isVolatile { q.append("volatile") }
        if q.isEmpty { return "" }
        return trailing ? " " + q.joined(separator: " ") + " " : q.joined(separator: " ") + " "
    }

    static func baseName(_ t: CType) -> String {
        switch t.kind {
        case .structure: return "struct " + (t.name ?? "{...}")
        case .union: return "union " + (t.name ?? "{...}")
        case .enumeration: return "enum " + (t.name ?? "{...}")
        case .void: return t.name ?? "void"
        default: return t.name ?? "<unnamed>"
        }
    }

    /// gdb's `ptype`: the type expanded one level (struct members, enum
    /// values), typedefs resolved at the top.
    public static func ptype(_ type: CType, offsets: Bool = false) -> String {
        // Peel typedefs at the top, as ptype does, keeping pointer/array suffixes.
        let (core, suffix) = peel(type)
        let r = core.resolved
        guard r.kind == .structure || r.kind == .union || r.kind == .enumeration else {
            return "type = " + declaration(resolveTop(type), "")
        }
        var lines: [String] = []
        if r.kind == .enumeration {
            let values = r.enumerators.map { "\($0.name)" + (expectedValue(r, $0) ? "" : " = \($0.value)") }
            return "type = " + qualifiers(core, trailing: false) + "enum " + (r.name.map { $0 + " " } ?? "") + "{" + values.joined(separator: ", ") + "}" + suffix
        }
        if offsets {
            lines.append("/* offset      |    size */  type = " + qualifiers(core, trailing: false) + baseName(r) + " {")
            body(r, base: 0, indent: 1, lines: &lines)
            lines.append("")
            lines.append(String(repeating: " ", count: 31) + "/* total size (bytes): \(pad(String(r.byteSize ?? 0), 4)) */")
            lines.append(String(repeating: " ", count: 29) + "}" + suffix)
        } else {
            lines.append("type = " + qualifiers(core, trailing: false) + baseName(r) + " {")
            for m in r.members {
                lines.append("    " + memberDeclaration(m, indent: 1))
            }
            lines.append("}" + suffix)
        }
        return lines.joined(separator: "\n")
    }

    /// Enumerators that follow on from the previous value print without `= N`.
    static func expectedValue(_ t: CType, _ e: (name: String, value: Int64)) -> Bool {
        guard let i = t.enumerators.firstIndex(where: { $0.name == e.name }) else { return false }
        let expected: Int64 = i == 0 ? 0 : t.enumerators[i - 1].value &+ 1
        return e.value == expected
    }

    static func resolveTop(_ t: CType) -> CType {
        var t = t
        var steps = 0
        while t.kind == .typedef, let n = t.target, steps < 64 { t = n; steps += 1 }
        return t
    }

    /// `struct foo *` → (struct foo, " *"); typedefs at the top resolved.
    static func peel(_ t: CType) -> (CType, String) {
        var t = resolveTop(t)
        var suffix = ""
        var steps = 0
        while steps < 64 {
            steps += 1
            if t.kind == .pointer, let target = t.target { suffix = " *" + suffix.trimmingLeadingSpaces(); t = resolveTop(target); continue }
            if t.kind == .array, let e = t.target { suffix += " [" + (t.count.map { String($0) } ?? "") + "]"; t = resolveTop(e); continue }
            break
        }
        return (t, suffix)
    }

    static func memberDeclaration(_ m: CType.Member, indent: Int) -> String {
        let inner = String(repeating: "    ", count: indent)
        var text: String
        let r = m.type
        if (r.kind == .structure || r.kind == .union) && r.name == nil && indent < maxNesting {
            // Anonymous struct/union: expand inline.
            var lines = [baseName(r).replacingFirst("{...}", "{")]
            for sub in r.members { lines.append(inner + "    " + memberDeclaration(sub, indent: indent + 1)) }
            lines.append(inner + "}" + (m.name.map { " " + $0 } ?? ""))
            text = lines.joined(separator: "\n")
        } else {
            text = declaration(m.type, m.name ?? "")
        }
        if let bits = m.bitSize { text += " : \(bits)" }
        return text + ";"
    }

    /// Offsets and sizes from hostile types (an array of 2^32 elements of 2^32 bytes) saturate, never trap.
    static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? .max : r
    }

    static func bits8(_ bytes: UInt64) -> UInt64 {
        let (r, o) = bytes.multipliedReportingOverflow(by: 8)
        return o ? .max : r
    }

    /// `ptype /o` body: one line per member with offset and size; nested
    /// structs expanded; holes called out.
    static func body(_ t: CType, base: UInt64, indent: Int, lines: inout [String]) {
        guard indent < maxNesting else {
            lines.append(String(repeating: "    ", count: indent) + "<type nested too deep>")
            return
        }
        // Nested structs each expanded: hostile types (a struct of two structs of two structs…) grow exponentially.
        guard lines.count < maxOffsetLines else {
            if lines.last?.hasSuffix("<more members: the listing is too long>") != true {
                lines.append(String(repeating: "    ", count: indent) + "<more members: the listing is too long>")
            }
            return
        }
        let pad0 = String(repeating: "    ", count: indent)
        var expectedEnd: UInt64 = 0
        var sawBitfieldEndBit: UInt64 = 0
        for m in t.members {
            if lines.count >= maxOffsetLines {
                if lines.last?.hasSuffix("<more members: the listing is too long>") != true {
                    lines.append(pad0 + "<more members: the listing is too long>")
                }
                break
            }
            let off = sum(base, m.offset)
            let size = m.type.byteSize ?? 0
            if t.kind == .structure {
                let bitStart = sum(bits8(m.offset), m.bitOffset ?? 0)
                let prevEndBits = max(bits8(expectedEnd), sawBitfieldEndBit)
                if bitStart > prevEndBits {
                    let holeBits = bitStart - prevEndBits
                    if holeBits % 8 == 0 {
                        lines.append("/* XXX \(pad(String(holeBits / 8), 2))-byte hole      */")
                    } else {
                        lines.append("/* XXX \(pad(String(holeBits), 2))-bit hole       */")
                    }
                }
            }
            let prefix: String
            if let bits = m.bitSize {
                prefix = "/* \(pad(String(off), 6)): \(pad(String(m.bitOffset ?? 0), 2))   |  \(pad(String(size), 6)) */"
                sawBitfieldEndBit = sum(sum(bits8(m.offset), m.bitOffset ?? 0), bits)
                expectedEnd = max(expectedEnd, sum(sawBitfieldEndBit, 7) / 8)
            } else {
                prefix = "/* \(pad(String(off), 6))      |  \(pad(String(size), 6)) */"
                expectedEnd = max(expectedEnd, sum(m.offset, size))
                sawBitfieldEndBit = 0
            }
            let r = m.type.resolved
            if (r.kind == .structure || r.kind == .union) && m.type.kind != .pointer && !r.members.isEmpty {
                let head = m.type.kind == .typedef ? declaration(m.type, "").replacingFirst("", "") : baseName(r)
                let opener = (m.type.kind == .typedef ? baseName(r) : head).replacingFirst("{...}", "")
                lines.append(prefix + pad0 + opener.trimmingTrailingSpaces() + " {")
                body(r, base: off, indent: indent + 1, lines: &lines)
                lines.append("")
                lines.append(String(repeating: " ", count: 29) + pad0 + "  /* total size (bytes): \(pad(String(r.byteSize ?? 0), 4)) */")
                lines.append(String(repeating: " ", count: 29) + pad0 + "} " + (m.name ?? "") + ";")
            } else {
                var decl = declaration(m.type, m.name ?? "")
                if let bits = m.bitSize { decl += " : \(bits)" }
                lines.append(prefix + pad0 + decl + ";")
            }
        }
        if t.kind == .structure, let total = t.byteSize, total > expectedEnd {
            lines.append("/* XXX \(pad(String(total - expectedEnd), 2))-byte padding   */")
        }
    }

    static func pad(_ s: String, _ width: Int) -> String { s.leftPadded(width, with: " ") }
}

extension String {
    func replacingFirst(_ a: String, _ b: String) -> String {
        guard !a.isEmpty, let r = firstRange(of: a) else { return self }
        return String(self[..<r.lowerBound]) + b + String(self[r.upperBound...])
    }
    func firstRange(of needle: String) -> Range<String.Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<(index(i, offsetBy: needle.count)) }
            i = index(after: i)
        }
        return nil
    }
}
