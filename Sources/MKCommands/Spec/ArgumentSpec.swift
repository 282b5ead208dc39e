/// What a command argument is. The kind decides what Tab offers for it
/// and what `help` and the docs call it; the command converts the words.
public enum ArgumentKind: Equatable {
    /// A C expression.
    case expression
    /// An expression or number naming an address.
    case address
    /// A PID or a `task_struct` address.
    case task
    /// An ELF symbol name (or an address, for commands that take either).
    case symbol
    /// A type name, or an expression whose type is meant.
    case type
    /// A file name.
    case file
    /// One of these words.
    case words([String])
    /// A decimal number.
    case integer
    /// An open target's name.
    case target
    /// A multikernel instance's name.
    case instance
    /// A command name (`help`).
    case command
    /// A command line of mkdbg's (`diff`) or of the shell (`shell`).
    case commandLine
    /// Anything else (member paths, struct specs, ranges, module names).
    case text
}

/// How many words an argument takes.
public enum Repetition: Equatable {
    case one
    case optional
    /// Zero or more.
    case many
    case oneOrMore

    public var minimum: Int { self == .one || self == .oneOrMore ? 1 : 0 }
    public var isVariadic: Bool { self == .many || self == .oneOrMore }
}

/// One positional argument of a command.
public struct ArgumentSpec: Equatable {
    /// As `usage` shows it: `EXPR`, `FILE`.
    public var name: String
    public var kind: ArgumentKind
    public var repetition: Repetition
    /// Takes the rest of the line as typed, quotes and spacing kept (and
    /// every word after it, options too, is part of it).
    public var raw: Bool
    /// What "expected …" says when it is missing; for an option's value,
    /// what follows the option's name (`expects START-END`).
    public var expected: String
    /// The value when the argument is left out.
    public var defaultValue: String?

    public init(_ name: String, _ kind: ArgumentKind, _ repetition: Repetition = .one, raw: Bool = false,
                expected: String? = nil, default defaultValue: String? = nil) {
        self.name = name
        self.kind = kind
        self.repetition = repetition
        self.raw = raw
        self.expected = expected ?? "a \(name)"
        self.defaultValue = defaultValue
    }

    public static func expression(_ name: String = "EXPR", _ repetition: Repetition = .oneOrMore, raw: Bool = false,
                                  expected: String = "an expression") -> ArgumentSpec {
        ArgumentSpec(name, .expression, repetition, raw: raw, expected: expected)
    }
    public static func address(_ name: String = "ADDRESS", _ repetition: Repetition = .oneOrMore, expected: String = "an address") -> ArgumentSpec {
        ArgumentSpec(name, .address, repetition, expected: expected)
    }
    public static func file(_ name: String = "FILE", _ repetition: Repetition = .one, raw: Bool = false,
                            expected: String = "a file name") -> ArgumentSpec {
        ArgumentSpec(name, .file, repetition, raw: raw, expected: expected)
    }
    public static func words(_ name: String, _ words: [String], _ repetition: Repetition = .one, expected: String) -> ArgumentSpec {
        ArgumentSpec(name, .words(words), repetition, expected: expected)
    }
}

/// A flag (`-a`) or an option with a value (`-l N`, `--layout ERA`, `as NAME`).
public struct OptionSpec: Equatable {
    /// The first is canonical: `has`/`value` take it.
    public var names: [String]
    /// Nil for a flag.
    public var value: ArgumentSpec?
    public var help: String
    /// The option may be given more than once; with `greedy`, one option
    /// takes every following word that starts with a digit (`--physical R1 R2`).
    public var repeatable: Bool
    public var greedy: Bool

    public static func flag(_ names: String..., help: String) -> OptionSpec {
        OptionSpec(names: names, value: nil, help: help, repeatable: false, greedy: false)
    }

    public static func option(_ names: String..., value: ArgumentSpec, help: String,
                              repeatable: Bool = false, greedy: Bool = false) -> OptionSpec {
        OptionSpec(names: names, value: value, help: help, repeatable: repeatable, greedy: greedy)
    }

    public var canonical: String { names[0] }
}
