import MKFormat
import MKMultikernel

/// `freeze` and `thaw`: stop and restart an instance's CPUs through its
/// freeze file. What mkdbg froze it thaws on exit, error or signal.
enum FreezeCommands {
    static let freeze = CommandSpec(
        name: "freeze", group: "multikernel",
        summary: "stop every CPU of an instance (the current one by default) and wait until it is frozen",
        usage: "freeze [NAME]",
        examples: ["freeze web"],
        arguments: [ArgumentSpec("NAME", .instance, .optional)],
        json: ["instance", "frozen", "ours", "ms"]
    ) { args, session in
        let inst = try session.instanceArgument(args.argument("NAME"), command: "freeze")
        let clock = Stopwatch()
        let outcome = try FreezeGuard.shared.freeze(inst)
        let ms = Int(clock.seconds * 1000)
        session.reopenIfCurrent(inst)
        let text: String
        switch outcome {
        case .frozen: text = "\(inst.name): frozen (\(ms) ms); mkdbg will thaw it when it exits"
        case .alreadyFrozen: text = "\(inst.name): already frozen by someone else; mkdbg will not thaw it"
        }
        return CommandOutput(text: text, fields: [("instance", .string(inst.name)), ("frozen", .bool(true)),
                                                  ("ours", .bool(outcome == .frozen)), ("ms", .int(Int64(ms)))])
    }

    static let thaw = CommandSpec(
        name: "thaw", group: "multikernel",
        summary: "let an instance this mkdbg froze run again",
        usage: "thaw [NAME]",
        examples: ["thaw web"],
        arguments: [ArgumentSpec("NAME", .instance, .optional)],
        json: ["instance", "frozen"]
    ) { args, session in
        let inst = try session.instanceArgument(args.argument("NAME"), command: "thaw")
        if !FreezeGuard.shared.holds(inst) {
            if inst.isFrozen == true { throw MultikernelError.frozenByOther(inst.name) }
            return CommandOutput(text: "\(inst.name): not frozen", fields: [("instance", .string(inst.name)), ("frozen", .bool(false))])
        }
        try FreezeGuard.shared.thaw(inst)
        session.reopenIfCurrent(inst)
        return CommandOutput(text: "\(inst.name): thawed", fields: [("instance", .string(inst.name)), ("frozen", .bool(false))])
    }
}
