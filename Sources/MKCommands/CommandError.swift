/// A command that cannot do what was asked; the message says why and, where
/// it can, what to type instead.
public enum CommandError: Error, CustomStringConvertible, Equatable {
    case usage(command: String, message: String, usage: String)
    case unknownCommand(String, suggestions: [String])
    case noTarget
    case invalid(String)

    public var description: String {
        switch self {
        case let .usage(command, message, usage):
            return "\(command): \(message)\nusage: \(usage)"
        case let .unknownCommand(name, suggestions):
            if suggestions.isEmpty { return "unknown command \"\(name)\"; try \"help\"" }
            return "unknown command \"\(name)\"; did you mean \(suggestions.joined(separator: ", "))?"
        case .noTarget:
            return "no target: open an image with -c IMAGE"
        case let .invalid(message):
            return message
        }
    }
}
