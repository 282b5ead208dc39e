import MKFormat
import MKMemory
import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel

/// A debugging session: the open target, the commands, and the state that
/// carries from one command to the next (the last `x` format and address).
public final class Session {
    public var target: Target?
    public private(set) var commands: [CommandSpec] = []
    var examineState = ExamineState()
    var evaluatorStorage: Evaluator?
    /// Where the multikernel kernfs and procfs are (`--root`).
    public var kernfs = Kernfs(root: "/")
    /// The instance the current target reads, when it is one.
    public internal(set) var currentInstance: Instance?
    /// The current target is memory that changes under us (a running instance).
    public internal(set) var isLive = false
    /// The current target's name in `targets`; the others wait in `savedTargets`.
    public internal(set) var currentName: String?
    var savedTargets: [String: SavedTarget] = [:]
    var targetOrder: [String] = []
    /// `set pagination on|off`: whether the REPL pages long output.
    public var pagination = true
    /// `set print elements|repeats|output-limit`: bounds of printed values.
    public var printLimits = PrintLimits()
    /// `set walk-limit N`: the links one command may follow in its kernel list walks.
    public var walkLimit = WalkBudget.defaultLimit

    /// A fresh walk budget for one command: every walker the command runs spends from it.
    public func walkBudget() -> WalkBudget { WalkBudget(limit: walkLimit) }

    /// What the REPL's prompt names: the image's file name, or nil without
    /// a target. (Instance names and a live mark will join it here.)
    public var promptName: String? {
        if let instance = currentInstance { return instance.name + (isLive ? " live" : "") }
        guard let path = target?.image.path else { return nil }
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The expression evaluator over the target's debug info (created on
    /// first use: it loads the DWARF index).
    public func evaluator() throws -> Evaluator {
        if let evaluatorStorage { return evaluatorStorage }
        let target = try requireTarget()
        let e = Evaluator(debugInfo: try target.requireDebugInfo(), memory: target.memory, symbols: target.symbols)
        evaluatorStorage = e
        return e
    }

    public init(target: Target?) {
        self.target = target
        commands = CommandRegistry.all
        if let target {
            currentName = Session.defaultName(for: target.image.path)
            targetOrder = currentName.map { [$0] } ?? []
        }
    }

    var kernelStorage: Kernel?
    /// Module debug files found by `mod -s`, by module name.
    public var moduleDebugFiles: [String: ModuleDebugFile] = [:]

    /// Kernel helpers over the target (types, objects, list walks).
    public func kernel() throws -> Kernel {
        if let kernelStorage { return kernelStorage }
        let k = Kernel(target: try requireTarget(), evaluator: try evaluator())
        kernelStorage = k
        return k
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

