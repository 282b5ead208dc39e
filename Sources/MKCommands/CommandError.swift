/// A command that cannot do what was asked; the message says why and, where
/// it can, what to type instead. Each case is a kind of failure `--json`
/// names (`ErrorReport`); the text is what a person reads.
public enum CommandError: Error, CustomStringConvertible {
    case usage(command: String, message: String, usage: String)
    case unknownCommand(String, suggestions: [String])
    case noTarget
    /// An argument that was read but cannot be used (out of range, of the wrong type, matching nothing).
    case invalid(String)
    /// No symbol of that name in the kernel's symbols or debug info.
    case unknownSymbol(String, message: String)
    /// No target, instance, task, module or type of that name.
    case unknownName(String, message: String)
    /// A file that cannot be read or written.
    case io(path: String, message: String)
    /// What the target's kernel does not have or mkdbg cannot read in it.
    case unsupported(String)
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
        case let .invalid(message), let .unknownSymbol(_, message), let .unknownName(_, message), let .io(_, message), let .unsupported(message),
             let .failed(message, _):
            return message
        }
    }
}
