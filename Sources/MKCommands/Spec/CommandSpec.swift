/// A command as data: its names, help, the arguments and options it takes,
/// its subcommands, the JSON fields it emits, and what it does. `help`, Tab
/// completion, the parser and the docs checks all read these.
public struct CommandSpec {
    public var name: String
    public var aliases: [String]
    public var group: String
    public var summary: String
    /// For `help`: the synopsis (and any explanation after it). Empty for a
    /// command with subcommands means their usages joined by ` | `; empty
    /// for a subcommand means its parent's.
    public var usage: String
    /// For `help`, after the usage: what the arguments and options mean
    /// (starting with a line break). Usage errors show only `usage`.
    public var details: String
    public var examples: [String]
    public var arguments: [ArgumentSpec]
    public var options: [OptionSpec]
    /// `info image`, `set print elements`, `dump memory`: the first word
    /// after the command picks one; when none matches, `run` (if any) runs.
    public var subcommands: [CommandSpec]
    /// The fields of its `--json` object (besides the common ones), as docs/json.md lists them.
    public var json: [String]
    /// The argument is a C expression, in which `|` and `>` are operators.
    public var takesExpression: Bool
    /// Options only before the first argument (after it, words that look
    /// like options are arguments: `diff ps -G a b`).
    public var optionsFirst: Bool
    /// What "too many arguments" says instead of `unexpected "WORD"`.
    public var excess: String?
    /// Enter on an empty line runs it again (see `RepeatRule`).
    public var repeats: Bool
    public var run: ((_ invocation: CommandInvocation, _ session: Session) throws -> CommandOutput)?

    public init(name: String, aliases: [String] = [], group: String = "", summary: String, usage: String = "",
                details: String = "", examples: [String] = [], arguments: [ArgumentSpec] = [], options: [OptionSpec] = [],
                subcommands: [CommandSpec] = [], json: [String] = [], takesExpression: Bool = false,
                optionsFirst: Bool = false, excess: String? = nil, repeats: Bool = true,
                run: ((CommandInvocation, Session) throws -> CommandOutput)? = nil) {
        self.name = name
        self.aliases = aliases
        self.group = group
        self.summary = summary
        self.usage = usage
        self.details = details
        self.examples = examples
        self.arguments = arguments
        self.options = options
        self.subcommands = subcommands
        self.json = json
        self.takesExpression = takesExpression
        self.optionsFirst = optionsFirst
        self.excess = excess
        self.repeats = repeats
        self.run = run
    }

    public func matches(_ word: String) -> Bool { name == word || aliases.contains(word) }

    public func subcommand(named word: String) -> CommandSpec? { subcommands.first { $0.matches(word) } }

    public func option(named word: String) -> OptionSpec? { options.first { $0.names.contains(word) } }

    /// The usage `help` shows and errors end with.
    public func usageText(parent: String? = nil) -> String {
        if !usage.isEmpty { return usage }
        if let parent { return parent }
        if !subcommands.isEmpty { return subcommands.map { $0.usageText() }.joined(separator: " | ") }
        return name
    }
}

/// The registry: every command mkdbg has, in `help`'s order. Adding a
/// command is one file defining its spec and one line here.
public enum CommandRegistry {
    public static var all: [CommandSpec] {
        [HelpCommand.spec, PrintCommand.spec, OutputCommand.spec, PtypeCommand.spec, WhatisCommand.spec, ExamineCommand.spec,
         SymCommand.spec, InfoCommand.spec, EchoCommand.spec, DumpCommand.spec, SaveCommand.spec, SetCommand.spec,
         LogCommand.spec, BacktraceCommand.spec, FrameCommands.frame, FrameCommands.up, FrameCommands.down,
         DisCommand.spec, DisassembleCommand.spec,
         SourceCommand.spec, ShellCommand.spec, QuitCommand.spec,
         InstanceCommands.instances, InstanceCommands.instance, ResourcesCommand.spec, InstanceCommands.dt,
         FreezeCommands.freeze, FreezeCommands.thaw, SnapshotCommand.spec, ChannelsCommand.spec,
         TargetCommands.targets, TargetCommands.target, TargetCommands.open, DiffCommand.spec,
         SysCommand.spec, PsCommand.spec, TaskCommand.spec, ListCommand.spec, PerCpuCommand.spec, ModCommand.spec,
         VtopCommand.spec, PtovCommand.spec, PteCommand.spec, StructCommand.structSpec, StructCommand.unionSpec,
         VmCommand.spec, FilesCommand.spec,
         RunqCommand.spec, TimerCommand.spec, SigCommand.spec, DevCommand.spec, WaitqCommand.spec,
         MountCommand.spec, IrqCommand.spec, NetCommand.spec, IpcsCommand.spec, SwapCommand.spec, ForeachCommand.spec, KmemCommand.spec,
         SearchCommand.spec, TreeCommand.spec]
    }

    /// Every spec with the words that reach it (`["info", "symbol"]`), parents before children.
    public static func paths(_ specs: [CommandSpec] = all) -> [(path: [String], spec: CommandSpec)] {
        var out: [([String], CommandSpec)] = []
        func visit(_ s: CommandSpec, _ prefix: [String]) {
            out.append((prefix + [s.name], s))
            for c in s.subcommands { visit(c, prefix + [s.name]) }
        }
        for s in specs { visit(s, []) }
        return out
    }
}
