/// Turns a command line into a spec and its values: the one place words
/// become arguments and options.
///
/// - subcommands: the first argument word that names one picks it (the
///   parent's options may come before it: `dump binary memory …`);
/// - options: a word naming one (`-a`, `--all`, `as`), `--name=value`,
///   clustered letters (`-Ht`), a letter glued to its value (`-l20`); a
///   word starting with `-` and a non-digit that names none is an error;
///   a raw argument, or `optionsFirst` after the first argument, ends them;
/// - arguments: in order; trailing ones after a variadic argument take
///   words from the end (an optional integer only when it reads as one).
public enum CommandParser {
    public static func parse(_ line: CommandArguments, spec: CommandSpec) throws -> (CommandSpec, CommandInvocation) {
        var invocation = CommandInvocation(path: [spec.name], format: line.format, line: line.rest)
        var spec = spec
        var usage = spec.usageText()
        // Errors name the command whose usage they show (`set`, not `set pagination`).
        var owner = spec.name
        var index = 0
        let words = line.words
        while !spec.subcommands.isEmpty {
            if line.quoteError != nil, let e = line.quoteError { throw e }
            // The parent's leading options.
            while index < words.count, let option = spec.option(named: words[index]) {
                invocation.options[option.canonical, default: []] += []
                index += 1
            }
            guard index < words.count, let sub = spec.subcommand(named: words[index]) else {
                if spec.run != nil { break }
                let message = index < words.count ? "unknown subcommand \"\(words[index])\"" : "expected a subcommand"
                throw CommandError.usage(command: owner, message: message, usage: usage)
            }
            invocation.path.append(sub.name)
            if !sub.usage.isEmpty { owner = invocation.commandName }
            usage = sub.usageText(parent: usage)
            spec = sub
            index += 1
        }
        let tail = Array(words[index...])
        let starts = Array(line.starts[index...])
        if spec.subcommands.isEmpty || spec.run != nil {
            try read(tail, starts: starts, line: line, spec: spec, command: owner, usage: usage, into: &invocation)
        }
        return (spec, invocation)
    }

    static func read(_ words: [String], starts: [String.Index], line: CommandArguments, spec: CommandSpec, command: String,
                     usage: String, into invocation: inout CommandInvocation) throws {
        func usageError(_ message: String) -> CommandError { .usage(command: command, message: message, usage: usage) }
        let rawArgument = spec.arguments.first { $0.raw }
        if let raw = rawArgument, spec.options.isEmpty, spec.arguments.count == 1 {
            // The line as typed from the argument on; quotes are the argument's business.
            if let start = starts.first {
                invocation.rawArguments[raw.name] = String(line.rest[start...])
            } else if raw.repetition.minimum > 0 {
                throw usageError("expected \(raw.expected)")
            }
            return
        }
        if let e = line.quoteError { throw e }
        var positional: [String] = []
        var rawStart: String.Index?
        var i = 0
        while i < words.count {
            let w = words[i]
            let optionsOpen = rawStart == nil && !(spec.optionsFirst && !positional.isEmpty)
            if optionsOpen, let consumed = try option(words, at: i, spec: spec, into: &invocation, usageError) {
                i += consumed
                continue
            }
            if rawArgument != nil && rawStart == nil { rawStart = starts[i] }
            positional.append(w)
            i += 1
        }
        if let raw = rawArgument, let rawStart {
            invocation.rawArguments[raw.name] = String(line.rest[rawStart...])
        }
        try assign(positional, spec: spec, into: &invocation, usageError)
    }

    /// Reads the option at `words[i]`; returns how many words it took, or nil when it is not one.
    static func option(_ words: [String], at i: Int, spec: CommandSpec, into invocation: inout CommandInvocation,
                       _ usageError: (String) -> CommandError) throws -> Int? {
        let w = words[i]
        func takeValue(_ option: OptionSpec, glued: String?) throws -> Int {
            guard let value = option.value else {
                invocation.options[option.canonical, default: []] += []
                return 1
            }
            var taken = 1
            var values: [String] = []
            if let glued {
                values.append(glued)
            } else {
                guard i + 1 < words.count else { throw usageError("\(w) \(value.expected)") }
                values.append(words[i + 1])
                taken = 2
            }
            if option.greedy {
                while i + taken < words.count, words[i + taken].first?.isNumber == true {
                    values.append(words[i + taken])
                    taken += 1
                }
            }
            invocation.options[option.canonical, default: []] += values
            return taken
        }
        if let option = spec.option(named: w) { return try takeValue(option, glued: nil) }
        if w.hasPrefix("--"), let eq = w.firstIndex(of: "="), let option = spec.option(named: String(w[..<eq])), option.value != nil {
            return try takeValue(option, glued: String(w[w.index(after: eq)...]))
        }
        guard w.count >= 2, w.first == "-", let second = w.dropFirst().first, !second.isNumber, !spec.options.isEmpty else { return nil }
        // Clustered letters, or a letter glued to its value.
        var chars = Array(w.dropFirst())
        var found: [(OptionSpec, String?)] = []
        while let c = chars.first {
            chars.removeFirst()
            guard let option = spec.options.first(where: { $0.names.contains("-" + String(c)) }) else {
                throw usageError("unknown option \(w)")
            }
            if option.value != nil {
                found.append((option, chars.isEmpty ? nil : String(chars)))
                chars = []
            } else {
                found.append((option, nil))
            }
        }
        var taken = 1
        for (option, glued) in found {
            if option.value != nil && glued == nil {
                taken = try takeValue(option, glued: nil)
            } else if let glued {
                invocation.options[option.canonical, default: []] += [glued]
            } else {
                invocation.options[option.canonical, default: []] += []
            }
        }
        return taken
    }

    /// Positional words to arguments: leading ones from the front, those
    /// after a variadic argument from the back, the variadic one the middle.
    static func assign(_ words: [String], spec: CommandSpec, into invocation: inout CommandInvocation,
                       _ usageError: (String) -> CommandError) throws {
        let args = spec.arguments
        let variadic = args.firstIndex { $0.repetition.isVariadic }
        let front = variadic.map { Array(args[..<$0]) } ?? args
        let back = variadic.map { Array(args[($0 + 1)...]) } ?? []
        var lo = 0, hi = words.count
        let minimumAfter = { (k: Int) in front[k...].reduce(0) { $0 + $1.repetition.minimum } + back.reduce(0) { $0 + $1.repetition.minimum }
            + (variadic.map { args[$0].repetition.minimum } ?? 0) }
        for (k, a) in front.enumerated() {
            let spare = hi - lo - minimumAfter(k + 1)
            if a.repetition == .one || (a.repetition == .optional && spare >= 1) {
                guard lo < hi else { throw usageError("expected \(a.expected)") }
                invocation.arguments[a.name] = [words[lo]]
                lo += 1
            }
        }
        for a in back.reversed() {
            let needed = variadic.map { args[$0].repetition.minimum } ?? 0
            if a.repetition == .one {
                guard hi - lo > needed else { throw usageError("expected \(a.expected)") }
                hi -= 1
                invocation.arguments[a.name] = [words[hi]]
            } else if hi - lo > needed, a.kind != .integer || Int(words[hi - 1]) != nil {
                hi -= 1
                invocation.arguments[a.name] = [words[hi]]
            }
        }
        if let v = variadic {
            let a = args[v]
            if hi - lo < a.repetition.minimum { throw usageError("expected \(a.expected)") }
            invocation.arguments[a.name] = Array(words[lo..<hi])
            lo = hi
        }
        if lo < hi {
            throw usageError(spec.excess ?? "unexpected \"\(words[lo])\"")
        }
        for a in args where invocation.arguments[a.name] == nil && invocation.rawArguments[a.name] == nil {
            if let d = a.defaultValue { invocation.arguments[a.name] = [d] }
        }
    }
}
