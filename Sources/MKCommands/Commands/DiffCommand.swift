/// `diff [--exact] CMD A B`: run a command on two targets (two instances, an
/// instance and a snapshot of it, two dumps) and show what differs: a
/// unified diff of the text, or with `--json` a structural one.
enum DiffCommand {
    static let usage = "diff [--exact] COMMAND TARGET-A TARGET-B"

    static let spec = CommandSpec(
        name: "diff", group: "sessions",
        summary: "run a command on two targets and show the difference",
        usage: usage,
        examples: ["diff ps web db", "diff log web before", "diff resources web db", "diff p init_task.comm web db"],
        arguments: [ArgumentSpec("COMMAND", .commandLine, .oneOrMore, expected: "a command and two targets"),
                    ArgumentSpec("TARGET-A", .target, expected: "a command and two targets"),
                    ArgumentSpec("TARGET-B", .target, expected: "a command and two targets")],
        options: [.flag("--exact", help: "compare addresses too")],
        json: ["command_run", "a", "b", "exact", "equal", "unified", "differences"],
        optionsFirst: true
    ) { args, session in
        let exact = args.has("--exact")
        let words = args.words("COMMAND")
        let a = args.argument("TARGET-A") ?? "", b = args.argument("TARGET-B") ?? ""
        let command = words.joined(separator: " ")
        guard !command.hasPrefix("@"), words.first != "diff" else {
            throw CommandError.usage(command: "diff", message: "the command cannot itself name targets", usage: usage)
        }
        // Commands about the machine's instances compare the two instances' parts.
        let perInstance = command == "resources" || command == "dt"
        let outA = try session.onTarget(a) { try session.execute(perInstance ? "\(command) \(a)" : command) }
        let outB = try session.onTarget(b) { try session.execute(perInstance ? "\(command) \(b)" : command) }
        let textA = comparable(command, outA, exact: exact), textB = comparable(command, outB, exact: exact)
        let diff = UnifiedDiff.render(textA, textB, labelA: "\(a): \(command)", labelB: "\(b): \(command)")
        let fieldsA = JSONValue.object(outA.fields.filter { $0.0 != "history" }), fieldsB = JSONValue.object(outB.fields.filter { $0.0 != "history" })
        let differences = structural(mask(fieldsA, exact), mask(fieldsB, exact), path: "")
        let text = diff.isEmpty ? "no differences between \(a) and \(b) for \"\(command)\"" : diff
        return CommandOutput(text: text, fields: [
            ("command_run", .string(command)), ("a", .string(a)), ("b", .string(b)), ("exact", .bool(exact)),
            ("equal", .bool(diff.isEmpty)), ("unified", .string(diff)), ("differences", .array(differences))])
    }

    /// What to compare for a command: for `ps`, one `PID PPID COMM` line
    /// per task, so the diff lists the processes that differ rather than
    /// every task's CPU and address; for the rest, the text.
    static func comparable(_ command: String, _ out: CommandOutput, exact: Bool) -> [String] {
        let name = command.split(separator: " ").first.map(String.init) ?? ""
        if name == "ps", !exact, case let .array(tasks)? = out.fields.first(where: { $0.0 == "tasks" })?.1 {
            var lines = ["PID PPID COMM"]
            for t in tasks {
                guard case let .object(f) = t else { continue }
                func v(_ k: String) -> String {
                    switch f.first(where: { $0.0 == k })?.1 {
                    case let .int(i)?: return String(i)
                    case let .uint(u)?: return String(u)
                    case let .string(s)?: return s
                    default: return "?"
                    }
                }
                lines.append("\(v("pid")) \(v("ppid")) \(v("comm"))")
            }
            return lines
        }
        return normalize(out.text, exact: exact)
    }

    /// Lines to compare: `$N = ` history numbers dropped and, unless
    /// exact, kernel addresses masked — two kernels never share them.
    static func normalize(_ text: String, exact: Bool) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var s = String(line)
            if s.hasPrefix("$"), let eq = s.firstRange(of: " = "), s[s.index(after: s.startIndex)..<eq.lowerBound].allSatisfy({ $0.isNumber }) {
                s = "$" + s[eq.lowerBound...]
            }
            return exact ? s : maskAddresses(s)
        }
    }

    /// Replaces 16-hex-digit words (kernel addresses, with or without `0x`) by `<addr>`.
    static func maskAddresses(_ s: String) -> String {
        var out = ""
        var word = ""
        func flush() {
            let hexDigits = word.hasPrefix("0x") ? word.dropFirst(2) : Substring(word)
            let isHex = !hexDigits.isEmpty && hexDigits.allSatisfy { $0.isHexDigit }
            // Kernel virtual addresses are 16 digits; physical ones (kept) are shorter.
            if isHex && hexDigits.count == 16 { out += "<addr>" } else { out += word }
            word = ""
        }
        for c in s {
            if c.isLetter || c.isNumber { word.append(c) } else { flush(); out.append(c) }
        }
        flush()
        return out
    }

    static func mask(_ v: JSONValue, _ exact: Bool) -> JSONValue {
        if exact { return v }
        switch v {
        case let .string(s): return .string(maskAddresses(s))
        case let .array(items): return .array(items.map { mask($0, exact) })
        case let .object(fields): return .object(fields.map { ($0.0, mask($0.1, exact)) })
        default: return v
        }
    }

    /// Differences between two JSON values: changed scalars with both
    /// values, arrays as the elements only one side has.
    static func structural(_ a: JSONValue, _ b: JSONValue, path: String) -> [JSONValue] {
        switch (a, b) {
        case let (.object(fa), .object(fb)):
            var keys: [String] = fa.map { $0.0 }
            for (k, _) in fb where !keys.contains(k) { keys.append(k) }
            var out: [JSONValue] = []
            for k in keys {
                let va = fa.first { $0.0 == k }?.1 ?? .null, vb = fb.first { $0.0 == k }?.1 ?? .null
                out += structural(va, vb, path: path.isEmpty ? k : path + "." + k)
            }
            return out
        case let (.array(xa), .array(xb)):
            var countsB: [String: Int] = [:]
            for x in xb { countsB[x.serialized, default: 0] += 1 }
            var onlyA: [JSONValue] = []
            for x in xa {
                let key = x.serialized
                if let n = countsB[key], n > 0 { countsB[key] = n - 1 } else { onlyA.append(x) }
            }
            var countsA: [String: Int] = [:]
            for x in xa { countsA[x.serialized, default: 0] += 1 }
            var onlyB: [JSONValue] = []
            for x in xb {
                let key = x.serialized
                if let n = countsA[key], n > 0 { countsA[key] = n - 1 } else { onlyB.append(x) }
            }
            if onlyA.isEmpty && onlyB.isEmpty { return [] }
            return [.object([("path", .string(path)), ("only_in_a", .array(onlyA)), ("only_in_b", .array(onlyB))])]
        default:
            return a.serialized == b.serialized ? [] : [.object([("path", .string(path)), ("a", a), ("b", b)])]
        }
    }
}
