import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// How `bt full`, `info args` and `info locals` print a frame's variables:
/// `name = value` as gdb does, `<optimized out>` and `<error: …>` in
/// place of values they cannot show; in `--json`, one object per variable.
enum FrameVariablesOutput {
    /// Largest value whose bytes `--json` lists.
    static let maxJSONBytes = 4096

    /// The value's text, or what stands in for it.
    static func valueText(_ v: FrameVariable, _ formatter: ValueFormatter) -> String {
        if let error = v.error { return "<error: \(error)>" }
        do {
            return try formatter.top(v.value)
        } catch {
            return "<error: \(error)>"
        }
    }

    /// `name = value` lines, each indented by `indent` (continuation lines of a
    /// multi-line value too).
    static func lines(_ vars: [FrameVariable], _ formatter: ValueFormatter, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        return vars.map { v in
            let text = valueText(v, formatter).split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n" + pad)
            return pad + v.name + " = " + text
        }
    }

    /// gdb's frame-line arguments: scalars printed, aggregates as `...`.
    static func argumentList(_ vars: [FrameVariable], _ formatter: ValueFormatter) -> String {
        vars.map { v in
            let r = v.type.resolved
            let aggregate = r.kind == .structure || r.kind == .union || r.kind == .array
            let text = aggregate && !v.value.isOptimizedOut && v.error == nil ? "..." : valueText(v, formatter)
            return v.name + "=" + text.split(separator: "\n").joined(separator: " ")
        }.joined(separator: ", ")
    }

    static func json(_ v: FrameVariable, _ formatter: ValueFormatter, memory: ValueMemory) -> JSONValue {
        var fields: [(String, JSONValue)] = [("name", .string(v.name)), ("type", .string(TypeFormatter.name(of: v.type))),
                                             ("argument", .bool(v.isArgument)), ("storage", .string(v.storage)),
                                             ("value", .string(valueText(v, formatter)))]
        fields.append(("address", v.value.address.map(jsonAddress) ?? .null))
        var integer: JSONValue = .null
        var bytes: JSONValue = .null
        if v.error == nil, !v.value.isOptimizedOut {
            if v.value.type.isScalar, let bits = try? v.value.integerBits(memory) {
                integer = v.value.type.resolved.isSigned ? .int(Int64(bitPattern: bits)) : .uint(bits)
            }
            if let size = v.value.type.byteSize, size <= UInt64(maxJSONBytes), let raw = try? v.value.load(memory) {
                bytes = .string(raw.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
            }
        }
        fields.append(("integer", integer))
        fields.append(("bytes", bytes))
        fields.append(("why", (v.error ?? v.unavailable).map { .string($0) } ?? .null))
        return .object(fields)
    }
}
