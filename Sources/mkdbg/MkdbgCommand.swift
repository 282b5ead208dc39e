import ArgumentParser
import MKCommands
import MKDebugInfo
import MKRepl
import MKMultikernel
import MKSystem
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
        commands on it: those given with -e and -x, in order, then exits (0 when all succeeded).
        Without them, standard input is read as a script, or, on a terminal, an interactive session
        starts. Type "help" for the command list.
        """)

    @Option(name: [.customShort("c"), .customLong("core")], help: "Memory image to open.")
    var core: String?

    @Option(name: [.customShort("s"), .customLong("symbols")], help: "The kernel's vmlinux (default: found by build-id in the symbol store).")
    var vmlinux: String?

    @Option(name: [.customShort("e"), .customLong("eval")], help: "Run a command (repeatable; runs in order with -x).")
    var commands: [String] = []

    @Option(name: [.customShort("x"), .customLong("script")], help: "Run the commands in a file (repeatable).")
    var scripts: [String] = []

    @Flag(name: .customLong("json"), help: "Print each command's result as one JSON object per line (docs/json.md).")
    var json = false

    @Flag(name: .customLong("stop-on-error"), help: "Stop at the first command that fails (default: run the rest, exit non-zero).")
    var stopOnError = false

    @Option(name: .customLong("root"), help: "Where to find sys/fs/multikernel and proc/ (default: /).")
    var root: String = "/"

    @Option(name: .customLong("instance"), help: "Debug this spawn kernel: open it through its kcore in the multikernel kernfs.")
    var instance: String?

    @Flag(name: .customLong("guardian"), help: .hidden)
    var guardian = false

    @Option(name: .customLong("build-index"), help: ArgumentHelp("Build and save the DWARF index of this vmlinux, then exit (what a first start runs in the background).", valueName: "vmlinux"))
    var buildIndex: String?

    @Flag(name: .customLong("no-debuginfo"), help: "Use no vmlinux: symbols, types and unwind tables from the kernel's own kallsyms, BTF and ORC in its memory (also: MKDBG_NO_DEBUGINFO=1).")
    var noDebugInfo = false

    @Flag(name: .customLong("ignore-mismatch"), help: "Use the vmlinux even when its build-id or release differs from the image's.")
    var ignoreMismatch = false

    /// -e and -x in the order they were given on the command line.
    func orderedInputs() -> [(isScript: Bool, text: String)] {
        var result: [(Bool, String)] = []
        var e = commands.makeIterator(), x = scripts.makeIterator()
        let args = Array(CommandLine.arguments.dropFirst())
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "-e" || a == "--eval" || a.hasPrefix("--eval=") || (a.hasPrefix("-e") && a.count > 2 && !a.hasPrefix("--")) {
                if let v = e.next() { result.append((false, v)) }
            } else if a == "-x" || a == "--script" || a.hasPrefix("--script=") || (a.hasPrefix("-x") && a.count > 2 && !a.hasPrefix("--")) {
                if let v = x.next() { result.append((true, v)) }
            }
            if a == "-e" || a == "-x" || a == "--eval" || a == "--script" || a == "-c" || a == "-s" || a == "--core" || a == "--symbols" { i += 1 }
            i += 1
        }
        while let v = e.next() { result.append((false, v)) }
        while let v = x.next() { result.append((true, v)) }
        return result
    }

    /// The target named on the command line cannot be opened: the error on
    /// stderr, and with --json also as the one JSON line on stdout.
    func openFailed(_ option: String, _ error: Error) -> ExitCode {
        fputs("mkdbg: \(error)\n", stderr)
        if json { print(openFailureJSONLine(option: option, error)) }
        return ExitCode(1)
    }

    func run() throws {
        if guardian { FreezeGuardian.serve() }
        if let buildIndex {
            do {
                print(try IndexBuild.run(vmlinuxPath: buildIndex))
                return
            } catch {
                fputs("mkdbg: --build-index \(buildIndex): \(error)\n", stderr)
                throw ExitCode(1)
            }
        }
        // A pager or `| head` that quits early must not kill mkdbg.
        Signals.ignore(SIGPIPE)
        // Whatever happens below, instances this process froze are thawed.
        defer { FreezeGuard.shared.thawAll() }
        var target: Target?
        if let core {
            do {
                var options = Target.Options(vmlinuxPath: vmlinux, ignoreMismatch: ignoreMismatch)
                options.noDebugInfo = noDebugInfo || getenv("MKDBG_NO_DEBUGINFO").map { String(cString: $0) == "1" } == true
                options.deferDwarfIndex = getenv("MKDBG_INDEX").map { String(cString: $0) == "foreground" } != true
                target = try Target(imagePath: core, options: options)
            } catch {
                throw openFailed("-c \(core)", error)
            }
            if let problem = target?.symbolProblem {
                fputs("mkdbg: warning: \(problem)\n", stderr)
            }
        }
        let session = Session(target: target)
        session.kernfs = Kernfs(root: root)
        let runner = CommandRunner(session: session, json: json, stopOnError: stopOnError)
        if let instance {
            if core != nil {
                fputs("mkdbg: -c and --instance both name a target; give one\n", stderr)
                throw ExitCode(1)
            }
            do {
                let inst = try session.kernfs.instance(instance)
                var options = Target.Options(vmlinuxPath: vmlinux, ignoreMismatch: ignoreMismatch)
                options.deferDwarfIndex = getenv("MKDBG_INDEX").map { String(cString: $0) == "foreground" } != true
                let opened = try InstanceOpener.open(inst, kernfs: session.kernfs, options: options)
                session.use(opened.target, instance: inst, live: inst.status == .active && inst.isFrozen != true)
                for note in opened.notes { fputs("mkdbg: \(note)\n", stderr) }
                if let problem = opened.target.symbolProblem { fputs("mkdbg: warning: \(problem)\n", stderr) }
            } catch {
                throw openFailed("--instance \(instance)", error)
            }
        }
        let inputs = orderedInputs()
        if !inputs.isEmpty {
            for input in inputs {
                if input.isScript {
                    do { _ = try runner.source(input.text) } catch { runner.run("source \(input.text)") }
                } else {
                    runner.run(input.text)
                }
                if runner.quitRequested || (stopOnError && runner.failures > 0) { break }
            }
        } else if isatty(0) != 0 && !json {
            Repl(runner: runner).run()
            return // the user saw each error; a session exits 0, as gdb's does
        } else {
            var lines: [String] = []
            while let line = readLine(strippingNewline: true) { lines.append(line) }
            runner.run(lines: lines)
        }
        if runner.failures > 0 { throw ExitCode(1) }
    }
}
