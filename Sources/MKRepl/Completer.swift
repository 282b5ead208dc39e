import MKCommands
import MKDebugInfo
import MKValues

/// Tab completion: what can come at the cursor, from the line before it.
///
/// - the first word: command names and aliases; after `x/` and `p/`, format
///   letters;
/// - after a command: what its spec says comes next (`CommandSpec`): its
///   subcommands (`info SUB`, `set print SETTING`, `dump KIND`), option
///   names after `-`, or the argument at that place, by its kind: words of
///   an enum (`set pagination on|off`), command names (`help`), target and
///   instance names, file names (`source`, `dump KIND FILE`, `save vmcore
///   FILE`, `open -s VMLINUX`, and after `>`, `>>` and `| cmd`), ELF symbol
///   names (`sym`, `info symbol|address|line`);
/// - in expressions: variables, functions, enumerators and type names from
///   the DWARF index; tags after `struct`, `union`, `enum`; members after
///   `.` and `->`, by evaluating the expression on their left (only that
///   part: nothing is printed or recorded).
///
/// Name lookups are prefix searches in the index's and the symbol table's
/// sorted names, at most `limit` results, so a Tab never waits on a scan.
public struct Completer {
    public let session: Session
    /// At most this many names are offered.
    public var limit = 1000

    public init(session: Session) {
        self.session = session
    }

    static let examineLetters: [Character] = ["x", "d", "u", "o", "t", "c", "a", "s", "z"]
    static let unitLetters: [Character] = ["b", "h", "w", "g"]
    /// Words an expression may use besides names from the debug info.
    static let expressionKeywords = ["struct", "union", "enum", "sizeof", "offsetof", "container_of",
                                     "unsigned", "signed", "char", "short", "int", "long", "void", "const"]

    // MARK: context

    /// What the spec of the line's command says the next word is.
    enum Slot {
        /// A subcommand of `spec` (or, when it has its own arguments, that argument).
        case subcommand(CommandSpec, used: [String])
        /// The value of an option.
        case optionValue(ArgumentSpec)
        /// The argument at that place (nil: none is left); `index` counts the arguments before it.
        case argument(ArgumentSpec?, spec: CommandSpec, index: Int, before: [String])
    }

    /// The slot of the word after `words` (the command word first), or nil for an unknown command.
    func slot(after words: [String]) -> Slot? {
        guard let first = words.first, var spec = session.spec(named: commandWord(first)) else { return nil }
        var i = 1
        while !spec.subcommands.isEmpty {
            var used: [String] = []
            while i < words.count, let option = spec.option(named: words[i]) { used.append(option.canonical); i += 1 }
            if i == words.count { return .subcommand(spec, used: used) }
            guard let sub = spec.subcommand(named: words[i]) else { break }
            spec = sub
            i += 1
        }
        var positional: [String] = []
        let raw = spec.arguments.contains { $0.raw }
        while i < words.count {
            let w = words[i]
            let optionsOpen = !(raw && !positional.isEmpty) && !(spec.optionsFirst && !positional.isEmpty)
            if optionsOpen, let option = spec.option(named: w) {
                if let value = option.value {
                    if i + 1 == words.count { return .optionValue(value) }
                    i += 2
                } else {
                    i += 1
                }
                continue
            }
            if optionsOpen, !spec.options.isEmpty, w.count >= 2, w.first == "-", w.dropFirst().first?.isNumber == false {
                i += 1
                continue
            }
            positional.append(w)
            i += 1
        }
        var k = 0
        for a in spec.arguments {
            if a.repetition.isVariadic || a.raw || k == positional.count {
                return .argument(a, spec: spec, index: positional.count, before: positional)
            }
            k += 1
        }
        return .argument(nil, spec: spec, index: positional.count, before: positional)
    }

    /// Whether the word at the cursor is a file name. Decided from the
    /// words before the last white space, so that it does not depend on
    /// where the word starts (readline asks this first, to split words).
    public func isPathContext(_ lineBeforeCursor: String) -> Bool {
        guard let lastSpace = lineBeforeCursor.lastIndex(where: { $0 == " " || $0 == "\t" }) else { return false }
        let words = lineBeforeCursor[..<lastSpace].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !words.isEmpty else { return false }
        if let last = words.last, last == ">" || last == ">>" { return true }
        // `| cmd ARG`: the shell command's arguments.
        if let bar = words.firstIndex(of: "|"), bar + 1 < words.count { return true }
        switch slot(after: words) {
        case let .optionValue(value)?: return value.kind == .file
        case let .argument(a?, _, _, _)?: return a.kind == .file || (a.kind == .commandLine && a.raw)
        default: return false
        }
    }

    /// Completions for `word`, which starts right after `before` (readline
    /// split the line at `LineEditor`'s word breaks).
    func complete(before: String, word: String) -> LineEditor.Completion {
        if isPathContext(before + word) { return .files }
        let leading = before.drop { $0 == " " || $0 == "\t" }
        // The command word, or a format glued to it (`x/4x`).
        if !leading.contains(where: { $0 == " " || $0 == "\t" }) {
            if leading.isEmpty { return words(commandNames(), word, appendSpace: true) }
            if leading.hasSuffix("/") { return formats(command: String(leading.dropLast()), word) }
            return .nothing
        }
        var parts = leading.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        // The word starts a new argument, or continues the last one (`p init_task.` + `ne`).
        let startsArgument = before.last == " " || before.last == "\t"
        if !startsArgument { parts.removeLast() }
        switch slot(after: parts) {
        case let .subcommand(spec, used)?:
            guard startsArgument else { return .nothing }
            let options = spec.options.map(\.canonical).filter { !$0.hasPrefix("-") && !used.contains($0) }
            return words(spec.subcommands.map(\.name) + options, word, appendSpace: true)
        case let .optionValue(value)?:
            return startsArgument ? values(value, before: before, word: word, previous: []) : .nothing
        case let .argument(a, spec, index, previous)?:
            if word.hasPrefix("-"), startsArgument, !spec.options.isEmpty, !(a?.raw == true && index > 0) {
                return words(spec.options.flatMap(\.names).filter { $0.hasPrefix("-") }, word, appendSpace: true)
            }
            guard let a else { return .nothing }
            if !startsArgument && ![.expression, .address, .type].contains(a.kind) { return .nothing }
            return values(a, before: before, word: word, previous: previous)
        case nil:
            return .nothing
        }
    }

    /// What an argument of this kind can be.
    func values(_ a: ArgumentSpec, before: String, word: String, previous: [String]) -> LineEditor.Completion {
        switch a.kind {
        case .expression, .address, .type:
            return expression(before: before, word: word)
        case .symbol:
            return symbolNames(word)
        case .file:
            return .files
        case let .words(list):
            return words(list, word, appendSpace: true)
        case .command:
            // `help info sy`: the subcommands of the command named so far.
            if let name = previous.first, var spec = session.spec(named: name) {
                for w in previous.dropFirst() { guard let sub = spec.subcommand(named: w) else { return .nothing }; spec = sub }
                return words(spec.subcommands.map(\.name), word, appendSpace: true)
            }
            return words(commandNames(), word, appendSpace: true)
        case .target:
            return words(session.targetNames, word, appendSpace: true)
        case .instance:
            return words(((try? session.kernfs.instances()) ?? []).map(\.name), word, appendSpace: true)
        case .commandLine:
            return a.raw ? .files : (previous.isEmpty ? words(commandNames(), word, appendSpace: true) : .nothing)
        case .task, .integer, .text:
            return .nothing
        }
    }

    // MARK: commands and formats

    func commandWord(_ word: String) -> String {
        word.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? word
    }

    func canonical(_ name: String) -> String {
        session.spec(named: name)?.name ?? name
    }

    func commandNames() -> [String] {
        var names: [String] = []
        for c in session.commands { names.append(c.name); names += c.aliases }
        return Array(Set(names)).sorted()
    }

    /// After `x/` or `p/`: the typed letters plus each letter that may
    /// still follow (a count, then a format letter and, for x, a unit).
    func formats(command: String, _ typed: String) -> LineEditor.Completion {
        let name = canonical(command)
        guard name == "x" || name == "print" else { return .nothing }
        let letters = typed.drop { $0.isNumber }
        var options: [Character] = []
        if !letters.contains(where: { Self.examineLetters.contains($0) }) { options += Self.examineLetters }
        if name == "x" && !letters.contains(where: { Self.unitLetters.contains($0) }) { options += Self.unitLetters }
        return .words(options.map { typed + String($0) }, complete: true, appendSpace: true)
    }

    // MARK: names

    func words(_ candidates: [String], _ prefix: String, appendSpace: Bool) -> LineEditor.Completion {
        .words(candidates.filter { $0.hasPrefix(prefix) }, complete: true, appendSpace: appendSpace)
    }

    /// Up to `limit` names, sorted and distinct; `complete` false when cut.
    func capped(_ lists: [[String]], _ prefix: String, appendSpace: Bool) -> LineEditor.Completion {
        var all = Array(Set(lists.joined())).filter { $0.hasPrefix(prefix) }.sorted()
        var complete = !lists.contains { $0.count > limit }
        if all.count > limit {
            all = Array(all.prefix(limit))
            complete = false
        }
        return .words(all, complete: complete, appendSpace: appendSpace)
    }

    func symbolNames(_ prefix: String) -> LineEditor.Completion {
        guard let symbols = session.target?.symbols else { return .nothing }
        return capped([symbols.names(withPrefix: prefix, limit: limit + 1)], prefix, appendSpace: true)
    }

    func debugNames(_ prefix: String, _ kinds: Set<IndexKind>) -> [String]? {
        guard session.target?.vmlinux != nil, let debugInfo = try? session.target?.requireDebugInfo() else { return nil }
        return debugInfo.index.names(withPrefix: prefix, kinds: kinds, limit: limit + 1)
    }

    // MARK: expressions

    func expression(before: String, word: String) -> LineEditor.Completion {
        if let first = word.first, first.isNumber || first == "$" { return .nothing }
        let b = Array(before)
        var end = b.count
        while end > 0 && (b[end - 1] == " " || b[end - 1] == "\t") { end -= 1 }
        // Members after `.` or `->`.
        if end > 0 && b[end - 1] == "." {
            return members(of: String(b[..<(end - 1)]), dereference: false, word)
        }
        if end > 1 && b[end - 1] == ">" && b[end - 2] == "-" {
            return members(of: String(b[..<(end - 2)]), dereference: true, word)
        }
        // Tags after struct, union, enum.
        if end < b.count {
            var start = end
            while start > 0 && Self.isIdentifier(b[start - 1]) { start -= 1 }
            let kind: IndexKind?
            switch String(b[start..<end]) {
            case "struct": kind = .structure
            case "union": kind = .union
            case "enum": kind = .enumeration
            default: kind = nil
            }
            if let kind {
                guard let names = debugNames(word, [kind]) else { return .nothing }
                return capped([names], word, appendSpace: false)
            }
        }
        let kinds: Set<IndexKind> = [.variable, .function, .enumerator, .typedef, .base]
        let names = debugNames(word, kinds) ?? []
        return capped([names, Self.expressionKeywords], word, appendSpace: false)
    }

    static func isIdentifier(_ c: Character) -> Bool {
        c == "_" || c == "$" || (c.isASCII && (c.isLetter || c.isNumber))
    }

    /// Members of the struct or union that `text`'s trailing operand has
    /// (through a pointer with `->`; `.` on a pointer too, as gdb allows).
    func members(of text: String, dereference: Bool, _ prefix: String) -> LineEditor.Completion {
        guard let operand = Self.trailingOperand(text), let evaluator = try? session.evaluator(),
              let value = try? evaluator.evaluate(operand) else { return .nothing }
        var type = value.type.resolved
        if type.kind == .pointer || type.kind == .array, let target = type.target { type = target.resolved }
        guard type.kind == .structure || type.kind == .union else { return .nothing }
        return words(type.memberNames, prefix, appendSpace: false)
    }

    /// The postfix expression that ends `text`: `init_task.mm` in
    /// `p 1 + init_task.mm`, `((struct s *)p)` in `p ((struct s *)p)`,
    /// `a[i].b` in `p a[i].b`. Nil when there is none.
    static func trailingOperand(_ text: String) -> String? {
        let c = Array(text)
        var i = c.count
        func skipSpaces() { while i > 0 && (c[i - 1] == " " || c[i - 1] == "\t") { i -= 1 } }
        /// Moves `i` to the bracket matching the one at `i - 1`.
        func skipGroup() -> Bool {
            let close = c[i - 1]
            let open: Character = close == ")" ? "(" : "["
            var depth = 0
            while i > 0 {
                i -= 1
                if c[i] == close { depth += 1 } else if c[i] == open {
                    depth -= 1
                    if depth == 0 { return true }
                }
            }
            return false
        }
        let end: Int
        skipSpaces()
        end = i
        while true {
            guard i > 0 else { break }
            let ch = c[i - 1]
            if ch == "]" {
                guard skipGroup() else { return nil }
                skipSpaces()
                continue // an index needs an operand before it
            }
            if ch == ")" {
                guard skipGroup() else { return nil }
                // `f(...)` such as container_of(...): take the name too
                // (written against the parenthesis, unlike `p (x)`).
                if i > 0 && isIdentifier(c[i - 1]) {
                    while i > 0 && isIdentifier(c[i - 1]) { i -= 1 }
                }
            } else if isIdentifier(ch) {
                while i > 0 && isIdentifier(c[i - 1]) { i -= 1 }
            } else {
                break
            }
            // A member access continues the operand leftwards.
            let mark = i
            skipSpaces()
            if i > 0 && c[i - 1] == "." { i -= 1; skipSpaces(); continue }
            if i > 1 && c[i - 1] == ">" && c[i - 2] == "-" { i -= 2; skipSpaces(); continue }
            i = mark
            break
        }
        let operand = String(c[i..<end]).trimmed()
        return operand.isEmpty ? nil : operand
    }
}
