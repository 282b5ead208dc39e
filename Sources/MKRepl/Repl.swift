#if canImport(Glibc)
import Glibc
#endif
import MKCommands
import MKFormat
import MKSystem

/// mkdbg's interactive session on a terminal: a readline prompt naming the
/// target, history across sessions, Tab completion, Enter repeating the
/// last command, Ctrl-C cancelling the running command, long output through
/// a pager, errors in red. Commands run through the same `CommandRunner`
/// as scripts, so they behave alike; an error never ends the session.
public final class Repl {
    let runner: CommandRunner
    let environment: [String: String]
    /// What Enter on an empty line runs (see `RepeatRule`).
    var repeatLine: String?

    public init(runner: CommandRunner, environment: [String: String] = Repl.processEnvironment()) {
        self.runner = runner
        self.environment = environment
    }

    /// The process environment (history path, PAGER, NO_COLOR, TERM).
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { result[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return result
    }

    public var session: Session { runner.session }

    /// The prompt's text for the session's current target.
    public var promptText: String { MKRepl.promptText(name: session.promptName) }

    /// Runs until `quit`, Ctrl-D or the end of input.
    public func run() {
        let completer = Completer(session: session)
        LineEditor.completer = { completer.complete(before: $0, word: $1) }
        LineEditor.isPathContext = { completer.isPathContext($0) }
        LineEditor.configure(name: "mkdbg")

        let promptStyle = Style(colour: Terminal.colourWanted(fd: 1, environment: environment))
        let errorStyle = Style(colour: Terminal.colourWanted(fd: 2, environment: environment))
        let savedErrorWriter = runner.errorWriter
        runner.errorWriter = { message in
            // After a Ctrl-C the terminal shows ^C: start on a line of its own.
            let lead = Cancellation.isRequested && Terminal.isTerminal(2) ? "\n" : ""
            fputs(lead + errorStyle.error("mkdbg: " + message) + "\n", stderr)
        }
        let history = History(path: History.defaultPath(environment: environment))
        if let problem = history.problem { runner.errorWriter("warning: " + problem) }

        let pager = PagingOutput(environment: environment) { [session] in session.pagination && Terminal.isTerminal(1) }
        pager.warn = { [runner] in runner.errorWriter($0) }
        let savedOutput = runner.output
        runner.output = pager

        // A pager or `| cmd` that quits early must not kill the session:
        // writes fail with EPIPE instead.
        let brokenPipe = Signals.catchBrokenPipe()
        let interrupts = Cancellation.catchInterrupts()
        defer {
            interrupts.restore()
            brokenPipe.restore()
            runner.output = savedOutput
            runner.errorWriter = savedErrorWriter
            history.close()
        }

        while !runner.quitRequested {
            let input = LineEditor.read(prompt: promptStyle.prompt(promptText))
            guard case let .line(typed) = input else {
                fputs("\n", stdout) // Ctrl-D: leave the shell's prompt on a line of its own
                break
            }
            let line: String
            if typed.trimmingSpaces.isEmpty {
                guard let last = repeatLine else { continue }
                line = last
            } else {
                history.add(typed)
                line = typed
            }
            Cancellation.reset()
            pager.begin()
            let ok = runner.run(line)
            pager.finish()
            fflush(stdout)
            repeatLine = ok ? RepeatRule.repeatLine(after: line, session: session) : nil
            Cancellation.reset()
        }
    }
}

/// Enter on an empty line runs the last command again, as in gdb: `x`
/// continues after the memory it showed (same format and count), anything
/// else runs as typed. Nothing repeats after an error or a Ctrl-C, nor
/// commands whose spec says `repeats: false`, as their repeat would be a
/// surprise: `shell`/`!` and `source` (they run other things), `set`
/// (nothing new to see), `dump` and `save` (they write files), `quit`;
/// nor any line whose output goes to a file
/// (`> FILE`, `>> FILE`).
public enum RepeatRule {
    /// What Enter runs after `line` succeeded, or nil.
    public static func repeatLine(after line: String, session: Session) -> String? {
        guard let args = try? CommandArguments(line: line), !args.command.isEmpty else { return nil }
        if let spec = session.spec(named: args.command), !spec.repeats { return nil }
        if session.spec(named: args.command)?.name == "x" {
            // A bare x continues at the next address (and in the same space).
            return "x" + (args.format.map { "/" + $0 } ?? "")
        }
        let writesFile = PlumbedLine.splits(Array(line.utf8)).contains { $0.writesFile }
        return writesFile ? nil : line
    }
}
