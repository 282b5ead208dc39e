import MKFormat
import MKMemory
import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel
import MKDisassembly

/// A debugging session: the open targets (one `TargetContext` each, in
/// the order opened; one is current), the commands, and the settings that
/// apply whichever target is current.
public final class Session {
    /// The open targets, in the order they were opened.
    public internal(set) var contexts: [TargetContext] = []
    /// The current target's context.
    public internal(set) var current: TargetContext?
    public private(set) var commands: [CommandSpec] = []
    /// Where the multikernel kernfs and procfs are (`--root`).
    public var kernfs = Kernfs(root: "/")
    /// `set pagination on|off`: whether the REPL pages long output.
    public var pagination = true
    /// `set print elements|repeats|output-limit`: bounds of printed values.
    public var printLimits = PrintLimits()
    /// `set walk-limit N`: the links one command may follow in its kernel list walks.
    public var walkLimit = WalkBudget.defaultLimit
    /// `set disassembly-flavor att|intel`: how x86 code is written (a session
    /// setting, as gdb's: how to read code is the reader's choice, not the dump's).
    public var disassemblyFlavor = DisassemblyFlavor.att

    public var target: Target? { current?.target }
    /// The instance the current target reads, when it is one.
    public var currentInstance: Instance? { current?.instance }
    /// The current target is memory that changes under us (a running instance).
    public var isLive: Bool { current?.isLive ?? false }
    /// The current target's name.
    public var currentName: String? { current?.name }
    /// The names of all open targets, in the order they were opened.
    public var targetNames: [String] { contexts.map(\.name) }

    public func context(named name: String) -> TargetContext? { contexts.first { $0.name == name } }

    /// A fresh walk budget for one command: every walker the command runs spends from it.
    public func walkBudget() -> WalkBudget { WalkBudget(limit: walkLimit) }

    /// What the REPL's prompt names: the instance (marked live while it
    /// runs), the image's file name, or nil without a target.
    public var promptName: String? {
        if let instance = currentInstance { return instance.name + (isLive ? " live" : "") }
        guard let path = target?.image.path else { return nil }
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    public init(target: Target?) {
        commands = CommandRegistry.all
        if let target { use(target, instance: nil, live: false) }
    }

    /// The current target's evaluator.
    public func evaluator() throws -> Evaluator {
        guard let current else { throw CommandError.noTarget }
        return try current.evaluator()
    }

    /// The current target's kernel helpers.
    public func kernel() throws -> Kernel {
        guard let current else { throw CommandError.noTarget }
        return try current.kernel()
    }

    /// `x`'s continuation on the current target.
    var examineState: ExamineState {
        get { current?.examineState ?? ExamineState() }
        set { current?.examineState = newValue }
    }

    /// Module debug files `mod -s` loaded for the current target.
    public var moduleDebugFiles: [String: ModuleDebugFile] {
        get { current?.moduleDebugFiles ?? [:] }
        set { current?.moduleDebugFiles = newValue }
    }

    public func requireTarget() throws -> Target {
        guard let target else { throw CommandError.noTarget }
        return target
    }

    public func spec(named name: String) -> CommandSpec? {
        commands.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// Runs one command line and returns its output. `@NAME CMD` runs
    /// CMD on another target and comes back.
    public func execute(_ line: String) throws -> CommandOutput {
        let trimmedLine = line.drop { $0 == " " || $0 == "\t" }
        if trimmedLine.hasPrefix("@") {
            let body = trimmedLine.dropFirst()
            let name = String(body.prefix { $0 != " " && $0 != "\t" })
            let rest = String(body.dropFirst(name.count).drop { $0 == " " || $0 == "\t" })
            guard !name.isEmpty, !rest.isEmpty else {
                throw CommandError.usage(command: "@", message: "expected a target and a command", usage: "@NAME COMMAND")
            }
            return try onTarget(name) { try self.execute(rest) }
        }
        let args = CommandArguments(tolerant: line)
        guard !args.command.isEmpty else { return .text("") }
        guard let spec = spec(named: args.command) else {
            throw CommandError.unknownCommand(args.command, suggestions: suggestions(for: args.command))
        }
        let (chosen, invocation) = try CommandParser.parse(args, spec: spec)
        guard let run = chosen.run else {
            throw CommandError.usage(command: invocation.commandName, message: "expected a subcommand", usage: chosen.usageText())
        }
        return try run(invocation, self)
    }

    /// Whether an expression command's argument parses and evaluates
    /// (used to tell `p a > b` from `p a > FILE`). Reads memory, writes nothing.
    func argumentEvaluates(_ line: String) -> Bool {
        let args = CommandArguments(tolerant: line)
        guard let spec = spec(named: args.command), let (chosen, invocation) = try? CommandParser.parse(args, spec: spec),
              let evaluator = try? evaluator() else { return false }
        let argument = chosen.arguments.first { $0.kind == .expression || $0.kind == .address || $0.kind == .type }
        let text = argument.flatMap { invocation.argument($0.name) } ?? ""
        guard !text.isEmpty else { return true }
        if let parsed = try? evaluator.parser.parseTypeOrExpression(text) {
            switch parsed {
            case let .type(name): return (try? evaluator.resolveType(name)) != nil
            case let .expression(node): return (try? evaluator.evaluate(node)) != nil
            }
        }
        return false
    }

    func suggestions(for name: String) -> [String] {
        let names = commands.flatMap { [$0.name] + $0.aliases }
        let byPrefix = names.filter { $0.hasPrefix(name) || name.hasPrefix($0) }
        if !byPrefix.isEmpty { return Array(byPrefix.prefix(3)) }
        return names.filter { editDistance($0, name) <= 2 }.prefix(3).map { $0 }
    }
}

