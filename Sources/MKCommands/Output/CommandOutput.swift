/// What a command produced: text for people, and fields for `--json`
/// (documented per command in docs/json.md).
public struct CommandOutput {
    public var text: String
    public var fields: [(String, JSONValue)]

    public init(text: String, fields: [(String, JSONValue)] = []) {
        self.text = text
        self.fields = fields
    }

    /// Text-only output; its JSON carries the text as `output`.
    public static func text(_ s: String) -> CommandOutput {
        CommandOutput(text: s, fields: [("output", .string(s))])
    }
}
