#if canImport(Glibc)
import Glibc
#endif

/// `source`, `shell` and `quit`: commands about the command stream, which
/// the `CommandRunner` carries out (a session alone cannot).
enum SourceCommand {
    static let spec = CommandSpec(
        name: "source", group: "support",
        summary: "run the commands in a file, as if typed (nested up to 16 deep)",
        usage: "source FILE",
        examples: ["source checks.mkdbg"],
        arguments: [.file("FILE", raw: true, expected: "a file")],
        repeats: false
    ) { invocation, _ in
        CommandOutput(text: "", request: .source(invocation.argument("FILE") ?? ""))
    }
}

enum ShellCommand {
    static let spec = CommandSpec(
        name: "shell", aliases: ["!"], group: "support",
        summary: "run a shell command (its output goes straight to the terminal)",
        usage: "shell COMMAND",
        examples: ["shell ls -l /tmp", "! date"],
        arguments: [ArgumentSpec("COMMAND", .commandLine, .oneOrMore, raw: true, expected: "a command")],
        repeats: false
    ) { invocation, _ in
        let command = invocation.argument("COMMAND") ?? ""
        fflush(stdout)
        let status = system(command)
        if status != 0 { throw CommandError.exitStatus(command: command, status: status >> 8, message: "shell: \"\(command)\" exited with status \(status >> 8)") }
        return CommandOutput(text: "", request: .nothing)
    }
}

enum QuitCommand {
    static let spec = CommandSpec(
        name: "quit", aliases: ["q", "exit"], group: "support",
        summary: "leave mkdbg (instances it froze are thawed)",
        usage: "quit",
        examples: ["quit"],
        excess: "takes no arguments",
        repeats: false
    ) { _, _ in
        CommandOutput(text: "", request: .quit)
    }
}
