import MKFormat
import MKDebugInfo
import MKValues

/// What `print` and `output` share: their /FMT letters, the value's text as
/// `print` shows it, and its JSON fields.
enum PrintedValue {
    /// `/FMT` as one of gdb's print letters (nil: none given).
    static func format(_ f: String?, command: String) throws -> Character? {
        guard let f else { return nil }
        guard f.count == 1, let c = f.first, "xduotcasz".contains(c) else {
            throw CommandError.invalidArgument("/" + f, message: "\(command): unknown format /\(f); formats are x d u o t c a s z")
        }
        return c
    }

    /// The value's text and its type, value, address and integer fields.
    static func render(_ value: Value, format: Character?, session: Session, target: Target) throws
        -> (text: String, fields: [(String, JSONValue)]) {
        let formatter = ValueFormatter(memory: target.memory, format: format, limits: session.printLimits,
                                       symbolize: { target.symbols?.describeForPointer($0) })
        let text = try formatter.top(value)
        var fields: [(String, JSONValue)] = [("type", .string(TypeFormatter.name(of: value.type))), ("value", .string(text))]
        if let a = value.address ?? value.snapshotAddress { fields.append(("address", jsonAddress(a))) }
        if value.type.isScalar, let bits = try? value.integerBits(target.memory) {
            fields.append(("integer", value.type.resolved.isSigned ? .int(Int64(bitPattern: bits)) : .uint(bits)))
        }
        return (text, fields)
    }
}
