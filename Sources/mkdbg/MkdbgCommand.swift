import ArgumentParser
import MKCommands
import MKDebugInfo
#if canImport(Glibc)
import Glibc
#endif

@main
struct Mkdbg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkdbg",
        abstract: "Cross-kernel debugger for Multikernel Linux: reads kernel memory images with the kernel's own symbols.",
        discussion: """
        Opens a memory image (ELF vmcore or kcore, kdump-compressed dump, flat or flattened) and runs
        commands on it. With -e, runs the given commands in order and exits: 0 when all succeeded.
        Without -e, reads commands from standard input. Type "help" for the command list.
        """)

    @Option(name: [.customShort("c"), .customLong("core")], help: "Memory image to open.")
    var core: String?

    @Option(name: [.customShort("s"), .customLong("symbols")], help: "The kernel's vmlinux (default: found by build-id in the symbol store).")
    var vmlinux: String?

    @Option(name: [.customShort("e"), .customLong("eval")], help: "Run a command (repeatable).")
    var commands: [String] = []

    @Flag(name: .customLong("ignore-mismatch"), help: "Use the vmlinux even when its build-id or release differs from the image's.")
    var ignoreMismatch = false

    func run() throws {
        var target: Target?
        if let core {
            do {
                target = try Target(imagePath: core, options: .init(vmlinuxPath: vmlinux, ignoreMismatch: ignoreMismatch))
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            if let problem = target?.symbolProblem {
                printError("warning: \(problem)")
            }
        }
        let session = Session(target: target)
        var failed = false
        if !commands.isEmpty {
            for line in commands where !run(line, session) { failed = true }
        } else {
            let interactive = isatty(0) != 0
            while true {
                if interactive { print("(mkdbg) ", terminator: ""); fflush(stdout) }
                guard let line = readLine() else { break }
                let trimmed = line.trimmingLeadingSpace()
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                if trimmed == "quit" || trimmed == "q" { break }
                if !run(trimmed, session) { failed = true }
            }
        }
        if failed { throw ExitCode(1) }
    }

    func run(_ line: String, _ session: Session) -> Bool {
        do {
            let out = try session.execute(line)
            if !out.isEmpty { print(out) }
            fflush(stdout)
            return true
        } catch {
            fflush(stdout)
            printError("\(error)")
            return false
        }
    }
}

func printError(_ message: String) {
    fputs("mkdbg: \(message)\n", stderr)
}

extension String {
    func trimmingLeadingSpace() -> String {
        String(drop { $0 == " " || $0 == "\t" })
    }
}
