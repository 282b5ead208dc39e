/// A command line read against a spec: which (sub)command, and the values
/// of its arguments and options. Commands read these; none splits words.
public struct CommandInvocation {
    /// The words that chose the spec: `["info", "symbol"]`.
    public var path: [String]
    public var format: String?
    /// The text after the command word (and format), as typed.
    public var line: String
    var arguments: [String: [String]] = [:]
    var rawArguments: [String: String] = [:]
    var options: [String: [String]] = [:]

    /// The words of an argument (empty when it was left out and has no default).
    public func words(_ name: String) -> [String] { arguments[name] ?? [] }

    /// An argument's text: its words joined by spaces, or the line as typed
    /// for a raw argument; nil when it was left out.
    public func argument(_ name: String) -> String? {
        if let raw = rawArguments[name] { return raw }
        guard let w = arguments[name], !w.isEmpty else { return nil }
        return w.joined(separator: " ")
    }

    /// Whether an option (by its canonical name) was given.
    public func has(_ option: String) -> Bool { options[option] != nil }

    /// The last value given to an option.
    public func value(_ option: String) -> String? { options[option]?.last }

    /// Every value given to an option, in order.
    public func values(_ option: String) -> [String] { options[option] ?? [] }

    /// The command as `help` and errors name it: `info address`.
    public var commandName: String { path.joined(separator: " ") }
}
