/// A command that cannot do what was asked; the message says why and, where
/// it can, what to type instead. Each case is a kind of failure `--json`
/// names (`ErrorReport`, docs/json.md "Errors"); the text is what a person reads.
public enum CommandError: Error, CustomStringConvertible {
    case usage(command: String, message: String, usage: String)
    case unknownCommand(String, suggestions: [String])
    case noTarget
    /// A word the command read but does not accept (a format letter, a range, an option's value):
    /// `argument` as typed.
    case invalidArgument(String, message: String)
    /// A number outside what the command accepts: `value` when it is one, the bounds it must be within.
    case outOfRange(value: UInt64?, minimum: UInt64?, maximum: UInt64?, message: String)
    /// An expression whose value has no address where the command needs one.
    case notInMemory(expression: String, message: String)
    /// An expression whose value is of a type the command cannot use.
    case wrongType(expression: String, type: String, message: String)
    /// A line whose words cannot be split (an unterminated quote); `column` is 0-based in `line`.
    case syntax(column: Int, message: String)
    /// No symbol of that name in the kernel's symbols or debug info.
    case unknownSymbol(String, message: String)
    /// No target, instance, task, module or type of that name.
    case unknownName(String, message: String)
    /// The debug info lacks what was asked (line tables for an address).
    case noDebugInfo(String)
    /// A file that cannot be read or written.
    case io(path: String, message: String)
    /// The target cannot do it (an image without the notes or memory asked for).
    case targetState(String)
    /// A program run by `shell` or `source`'s hooks failed: its exit status, or nil when it did not start.
    case exitStatus(command: String, status: Int32?, message: String)
    /// `message` (the whole text shown) says what failed; `cause` is the typed error underneath,
    /// whose kind and fields `--json` reports.
    indirect case failed(String, cause: Error)

    public var description: String {
        switch self {
        case let .usage(command, message, usage):
            return "\(command): \(message)\nusage: \(usage)"
        case let .unknownCommand(name, suggestions):
            if suggestions.isEmpty { return "unknown command \"\(name)\"; try \"help\"" }
            return "unknown command \"\(name)\"; did you mean \(suggestions.joined(separator: ", "))?"
        case .noTarget:
            return "no target: open an image with -c IMAGE"
        case let .invalidArgument(_, message), let .outOfRange(_, _, _, message), let .notInMemory(_, message),
             let .wrongType(_, _, message), let .syntax(_, message), let .unknownSymbol(_, message),
             let .unknownName(_, message), let .noDebugInfo(message), let .io(_, message), let .targetState(message),
             let .exitStatus(_, _, message), let .failed(message, _):
            return message
        }
    }
}
