import MKSystem
import MKDebugInfo

/// `info functions|variables|types [REGEX]`: names of the DWARF name index
/// (top-level definitions of the vmlinux's compile units) of some kinds,
/// in name order, those matching a POSIX extended REGEX anywhere, at most
/// `maxShown` of them.
enum NameListing {
    static let maxShown = 2000

    static let fields = ["regex", "matches", "count", "truncated"]

    static func list(_ what: String, kinds: Set<IndexKind>, regex pattern: String?, _ session: Session) throws -> CommandOutput {
        var regex: Regex?
        if let pattern, !pattern.isEmpty {
            do {
                regex = try Regex(pattern)
            } catch let p as Regex.Problem {
                throw CommandError.syntax(column: p.column, message: "info \(what): \(p)")
            }
        }
        let index = try session.requireTarget().requireDebugInfo().index
        var shown: [(String, IndexKind)] = []
        var count = 0
        index.forEachName { name, found in
            guard let kind = found.first(where: { kinds.contains($0) }), regex?.matches(name) ?? true else { return }
            count += 1
            if shown.count < maxShown { shown.append((name, kind)) }
        }
        var lines = [regex.map { "All \(what) matching regular expression \"\($0.pattern)\":" } ?? "All defined \(what):"]
        for (name, kind) in shown { lines.append(text(name, kind)) }
        if count > shown.count {
            lines.append("... and \(count - shown.count) more (\(count) in all); give a narrower REGEX")
        }
        let matches: [JSONValue] = shown.map { .object([("name", .string($0.0)), ("kind", .string($0.1.label))]) }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [
            ("regex", regex.map { .string($0.pattern) } ?? .null), ("matches", .array(matches)),
            ("count", .int(Int64(count))), ("truncated", .bool(count > shown.count))])
    }

    /// A struct, union or enum as C declares it (`struct task_struct;`); the rest by name.
    static func text(_ name: String, _ kind: IndexKind) -> String {
        switch kind {
        case .structure: return "struct \(name);"
        case .union: return "union \(name);"
        case .enumeration: return "enum \(name);"
        default: return name
        }
    }

    static func argument() -> ArgumentSpec {
        ArgumentSpec("REGEX", .text, .many, raw: true, expected: "a regular expression")
    }
}
