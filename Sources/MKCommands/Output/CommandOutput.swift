/// What a command produced: text for people, and fields for `--json`
/// (documented per command in docs/json.md).
public struct CommandOutput {
    public var text: String
    public var fields: [(String, JSONValue)]
    /// Something only the runner can do (`quit`, `source`), or nil.
    public var request: RunnerRequest?
    /// Whether the text output ends its line (false: `output`, which prints as gdb's, without one).
    public var endsLine = true

    public init(text: String, fields: [(String, JSONValue)] = [], request: RunnerRequest? = nil) {
        self.text = text
        self.fields = fields
        self.request = request
    }

    /// Text-only output; its JSON carries the text as `output`.
    public static func text(_ s: String) -> CommandOutput {
        CommandOutput(text: s, fields: [("output", .string(s))])
    }
}

/// What a command asks of the `CommandRunner` instead of printing.
public enum RunnerRequest: Equatable {
    /// Stop reading commands.
    case quit
    /// Run the commands in a file.
    case source(String)
    /// Done, with nothing to print (`shell` wrote to the terminal itself).
    case nothing
}
