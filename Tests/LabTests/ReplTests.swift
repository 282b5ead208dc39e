import Testing
import Foundation
import MKCommands
@testable import MKRepl

/// The REPL in a real terminal: mkdbg runs in a tmux pane (its own tmux
/// server per test, so tests never share one), keys go in with
/// `send-keys`, the screen comes back with `capture-pane`. Every wait
/// polls the screen every 50 ms up to a deadline; nothing sleeps blindly.
@Suite(.serialized) struct ReplTests {
    @Test func completesStructMembersAfterDotAndArrow() throws {
        let fx = try LabFixture.load("running")
        let t = try TmuxRepl(fixture: fx, name: "members")
        defer { t.kill() }
        try t.waitForPrompt()

        t.type("p init_uts_ns.name.rel")
        t.keys("Tab")
        try t.waitForLastLine("(mkdbg vmcore.elf) p init_uts_ns.name.release")
        t.keys("Enter")
        try t.waitFor { $0.contains("\"\(fx.release)\"") }
        // Keys typed before the next prompt would be echoed by the tty ahead of it.
        try t.waitForPrompt()

        // `init_task.mm` is a pointer (NULL in the swapper task): completion
        // needs only its type, nothing is read through it.
        t.type("p init_task.mm->mmap_ba")
        t.keys("Tab")
        try t.waitForLastLine("(mkdbg vmcore.elf) p init_task.mm->mmap_base")
        t.keys("C-u")
        try t.waitForPrompt()

        // A struct tag after `ptype struct`.
        t.type("ptype struct list_hea")
        t.keys("Tab")
        try t.waitForLastLine("(mkdbg vmcore.elf) ptype struct list_head")
        t.keys("Enter")
        try t.waitFor { $0.contains("struct list_head *prev;") }
        try t.waitForPrompt()
    }

    @Test func historyIsKeptAcrossSessions() throws {
        let fx = try LabFixture.load("running")
        let first = try TmuxRepl(fixture: fx, name: "history1")
        defer { first.kill() }
        try first.waitForPrompt()
        first.type("p 40 + 2")
        first.keys("Enter")
        try first.waitFor { $0.contains("$1 = 42") }
        try first.waitForPrompt()
        first.type("p 40 + 2")
        first.keys("Enter")
        try first.waitFor { $0.contains("$2 = 42") }
        try first.waitForPrompt()
        first.type("quit")
        first.keys("Enter")
        try first.waitForExit()

        let path = first.stateHome + "/mkdbg/history"
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        // Stored once (consecutive duplicates are not), and `quit` too.
        #expect(lines == ["p 40 + 2", "quit"])

        // The next session, same home: Up recalls the commands.
        let second = try TmuxRepl(fixture: fx, name: "history2", home: first.home)
        defer { second.kill() }
        try second.waitForPrompt()
        second.keys("Up")
        try second.waitForLastLine("(mkdbg vmcore.elf) quit")
        second.keys("Up")
        try second.waitForLastLine("(mkdbg vmcore.elf) p 40 + 2")
        second.keys("Enter")
        try second.waitFor { $0.contains("$1 = 42") }
        try second.waitForPrompt()
        // Ctrl-D leaves.
        second.keys("C-d")
        try second.waitForExit()
    }

    @Test func ctrlCCancelsACommandAndClearsTheLine() throws {
        let fx = try LabFixture.load("running")
        let t = try TmuxRepl(fixture: fx, name: "interrupt")
        defer { t.kill() }
        try t.waitForPrompt()

        // At the prompt: the line is dropped, a new prompt comes.
        t.type("p this line goes away")
        // The tty discards input not yet read when ^C arrives: wait for the echo first.
        try t.waitFor { $0.contains("p this line goes away") }
        t.keys("C-c")
        try t.waitFor { $0.contains("p this line goes away^C") }
        try t.waitForPrompt()

        // A command reading 8 MiB of memory, a second or more: interrupted.
        let row = try t.cursorRow()
        t.type("x/1048576xg &init_task")
        t.keys("Enter")
        try t.waitFor(what: "the line to be accepted") { _ in ((try? t.cursorRow()) ?? row) > row }
        t.keys("C-c")
        let screen = try t.waitFor { $0.contains("mkdbg: interrupted") }
        try t.waitForPrompt()
        #expect(!screen.contains("<init_task+8388"), "the command ran to the end")

        // The session goes on.
        t.type("p 1 + 2")
        t.keys("Enter")
        try t.waitFor { $0.contains("$1 = 3") }
        try t.waitForPrompt()
    }

    /// Batch use keeps SIGINT's default action: mkdbg dies of it (130 in
    /// a shell), nothing catches it.
    @Test func ctrlCEndsBatchUse() throws {
        let fx = try LabFixture.load("running")
        // The shell traps INT (so it lives to print the status); a trap,
        // unlike an ignored signal, is not inherited by mkdbg.
        let script = "trap 'true' INT; echo started; eval \"$MKDBG -e 'x/1048576xg &init_task' -e 'p 1'\" >/dev/null; " +
            "echo \"status $?\"; sleep 60"
        let t = try TmuxRepl(fixture: fx, name: "batch", shell: script)
        defer { t.kill() }
        try t.waitFor { $0.contains("started") }
        // Let mkdbg open the image and start reading (it prints nothing), then interrupt.
        usleep(300_000)
        t.keys("C-c")
        let screen = try t.waitFor { $0.contains("status ") }
        #expect(screen.contains("status 130"), "\(screen)")
    }

    @Test func longOutputGoesThroughThePager() throws {
        let fx = try LabFixture.load("running")
        // The struct's size from the kernel's DWARF (9728 bytes on 6.1, 9792 on 6.12).
        let size = try #require(try KernelTests.json(fx.elf, ["p sizeof(struct task_struct)"])[0]["integer"] as? UInt64)
        let t = try TmuxRepl(fixture: fx, name: "pager", environment: ["PAGER": "less -FRX"])
        defer { t.kill() }
        try t.waitForPrompt()
        // 1300 lines on a 50-row screen: less shows one screenful and its prompt.
        t.type("ptype /o struct task_struct")
        t.keys("Enter")
        let paged = try t.waitForLastLine(":")
        #expect(paged.contains("type = struct task_struct {"))
        #expect(!paged.contains("total size (bytes): \(size)"))
        t.keys("q")
        try t.waitForPrompt()

        // Output that fits is printed directly.
        t.type("ptype struct list_head")
        t.keys("Enter")
        try t.waitFor { $0.contains("struct list_head *prev;") }
        try t.waitForPrompt()

        // `set pagination off`: straight to the terminal, to the end.
        t.type("set pagination off")
        t.keys("Enter")
        try t.waitForPrompt()
        t.type("ptype /o struct task_struct")
        t.keys("Enter")
        let direct = try t.waitFor { $0.contains("/* total size (bytes): \(size) */") }
        #expect(!direct.split(separator: "\n").contains(":"))
        try t.waitForPrompt()

        // Piped output never goes through the pager.
        t.type("set pagination on")
        t.keys("Enter")
        try t.waitForPrompt()
        t.type("ptype /o struct task_struct | tail -3")
        t.keys("Enter")
        try t.waitFor { $0.contains("/* total size (bytes): \(size) */") }
        try t.waitForPrompt()
    }

    @Test func colourOnlyWithoutNoColor() throws {
        let fx = try LabFixture.load("running")
        for noColor in [true, false] {
            let t = try TmuxRepl(fixture: fx, name: noColor ? "nocolor" : "colour",
                                 environment: noColor ? ["NO_COLOR": "1"] : [:])
            defer { t.kill() }
            try t.waitForPrompt()
            t.type("frobnicate")
            t.keys("Enter")
            try t.waitFor { $0.contains("unknown command \"frobnicate\"") }
            try t.waitForPrompt()
            // -e: the screen with its attributes as escape sequences.
            let screen = try t.capture(escapes: true)
            if noColor {
                #expect(!screen.contains("\u{1B}["), "escape sequences with NO_COLOR: \(screen.debugDescription)")
            } else {
                #expect(screen.contains("\u{1B}[31m"), "no red error: \(screen.debugDescription)")
                #expect(screen.contains("\u{1B}[1m"), "no bold prompt: \(screen.debugDescription)")
            }
        }
    }

    @Test func enterRepeatsExamineAtTheNextAddress() throws {
        let fx = try LabFixture.load("running")
        let t = try TmuxRepl(fixture: fx, name: "repeat")
        defer { t.kill() }
        try t.waitForPrompt()
        t.type("x/2xg &init_task")
        t.keys("Enter")
        try t.waitFor { $0.contains("<init_task>:") }
        try t.waitForPrompt()
        t.keys("Enter")
        try t.waitFor { $0.contains("<init_task+16>:") }
        try t.waitForPrompt()
        t.keys("Enter")
        let screen = try t.waitFor { $0.contains("<init_task+32>:") }
        try t.waitForPrompt()
        #expect(!screen.contains("<init_task+8>:"))
        // After an error nothing repeats.
        t.type("x/2xg 0xffffc9ffffff0000")
        t.keys("Enter")
        try t.waitFor { $0.contains("cannot access memory") }
        try t.waitForPrompt()
        t.keys("Enter")
        try t.waitForPrompt()
        t.type("p 5")
        t.keys("Enter")
        let after = try t.waitFor { $0.contains("$1 = 5") }
        #expect(after.components(separatedBy: "cannot access memory").count == 2, "the failing x ran again")
    }

    @Test func unknownCommandSuggestsAndTheSessionGoesOn() throws {
        let fx = try LabFixture.load("running")
        let t = try TmuxRepl(fixture: fx, name: "unknown")
        defer { t.kill() }
        try t.waitForPrompt()
        t.type("whatsi init_task")
        t.keys("Enter")
        try t.waitFor { $0.contains("unknown command \"whatsi\"; did you mean whatis?") }
        try t.waitForPrompt()
        t.type("p 6 * 7")
        t.keys("Enter")
        try t.waitFor { $0.contains("$1 = 42") }
        try t.waitForPrompt()
    }

    // MARK: the parts without a terminal

    @Test func completerContexts() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let c = Completer(session: session)
        func words(_ before: String, _ word: String) -> [String] {
            if case let .words(w, _, _) = c.complete(before: before, word: word) { return w }
            return []
        }
        #expect(words("", "pty") == ["ptype"])
        #expect(words("help ", "wha") == ["whatis"])
        #expect(words("info ", "sy") == ["symbol"])
        // Subcommands, options and argument kinds come from the specs.
        let info = try #require(session.spec(named: "info"))
        #expect(words("info ", "") == info.subcommands.map(\.name))
        #expect(words("help info ", "") == info.subcommands.map(\.name))
        #expect(words("help ", "sou") == ["source"])
        #expect(words("set print ", "") == ["elements", "repeats", "output-limit"])
        #expect(Set(words("dump ", "")) == ["binary", "memory", "physical", "value"])
        #expect(words("dump binary ", "") == ["memory", "physical", "value"])
        #expect(Set(words("list ", "-")) == ["-H", "-h", "-r", "-o", "-s"])
        #expect(words("log -l 5 ", "-C") == ["-C"])
        #expect(words("info address ", "init_ta").contains("init_task"))
        #expect(words("info registers ", "r1") == ["r10", "r11", "r12", "r13", "r14", "r15"])
        #expect(words("i r rip ", "ef") == ["eflags"])
        #expect(words("list -H ", "init_ta").contains("init_task"))
        #expect(words("target ", "") == session.targetNames)
        #expect(c.complete(before: "open /tmp/x -s ", word: "/tm") == .files)
        #expect(c.complete(before: "open ", word: "/tm") == .files)
        #expect(c.complete(before: "open /tmp/x ", word: "/tm") != .files) // one image only
        #expect(words("set ", "pag") == ["pagination"])
        #expect(words("set pagination ", "o").sorted() == ["off", "on"])
        #expect(words("x/", "4").contains("4x"))
        #expect(words("x/", "4x").contains("4xg"))
        #expect(!words("x/", "4x").contains("4xd"))
        #expect(words("p/", "").contains("x"))
        #expect(words("p init_task.mm->", "mmap_ba") == ["mmap_base"])
        #expect(words("p init_task.tasks.", "ne") == ["next"])
        #expect(words("p ((struct list_head *)&init_task.tasks)->", "pr") == ["prev"])
        #expect(words("p container_of(init_task.tasks.next, struct task_struct, tasks)->", "com").contains("comm"))
        #expect(words("p init_uts_ns.name.", "rel") == ["release"])
        #expect(words("ptype struct ", "task_stru").contains("task_struct"))
        #expect(words("p ", "init_ta").contains("init_task"))
        #expect(words("sym ", "init_ta").contains("init_task"))
        #expect(c.complete(before: "source ", word: "/tm") == .files)
        #expect(c.complete(before: "p init_task > ", word: "/tm") == .files)
        #expect(c.complete(before: "save vmcore ", word: "/tm") == .files)
        #expect(c.complete(before: "dump memory ", word: "out.bin") == .files)
        #expect(c.complete(before: "dump memory out.bin ", word: "init") != .files)
        // A capped list inserts nothing beyond what was typed.
        if case let .words(w, complete, _) = c.complete(before: "p ", word: "") {
            #expect(!complete)
            #expect(w.count <= c.limit)
        } else {
            Issue.record("no names for an empty word")
        }
    }

    @Test func trailingOperands() {
        #expect(Completer.trailingOperand("p 1 + init_task.mm") == "init_task.mm")
        #expect(Completer.trailingOperand("p ((struct list_head *)p)") == "((struct list_head *)p)")
        #expect(Completer.trailingOperand("p a[i + 1].b") == "a[i + 1].b")
        #expect(Completer.trailingOperand("p *init_task.tasks.next") == "init_task.tasks.next")
        #expect(Completer.trailingOperand("p container_of(x, struct t, m)->a") == "container_of(x, struct t, m)->a")
        #expect(Completer.trailingOperand("p (") == nil)
    }

    @Test func repeatRules() throws {
        let session = Session(target: nil)
        #expect(RepeatRule.repeatLine(after: "x/4xg &init_task", session: session) == "x/4xg")
        #expect(RepeatRule.repeatLine(after: "x &init_task", session: session) == "x")
        #expect(RepeatRule.repeatLine(after: "p init_task.pid", session: session) == "p init_task.pid")
        #expect(RepeatRule.repeatLine(after: "p init_task | grep x", session: session) == "p init_task | grep x")
        #expect(RepeatRule.repeatLine(after: "p init_task > out.txt", session: session) == nil)
        #expect(RepeatRule.repeatLine(after: "shell ls", session: session) == nil)
        #expect(RepeatRule.repeatLine(after: "source cmds", session: session) == nil)
        #expect(RepeatRule.repeatLine(after: "set pagination off", session: session) == nil)
        #expect(RepeatRule.repeatLine(after: "save vmcore f", session: session) == nil)
    }

    @Test func pagerCountsScreenRows() {
        let pager = PagingOutput(environment: [:]) { false }
        #expect(pager.pagerCommand == "less -FRX")
        #expect(pager.rows("a\nb\n") == 2)
        // 100 characters on an 80-column screen take two rows.
        #expect(pager.rows(String(repeating: "x", count: 100) + "\n") == 2)
        #expect(PagingOutput(environment: ["PAGER": "more"]) { false }.pagerCommand == "more")
    }

    @Test func historyPathFollowsXdg() {
        #expect(History.defaultPath(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/mkdbg/history")
        #expect(History.defaultPath(environment: ["HOME": "/h"]) == "/h/.local/state/mkdbg/history")
        // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
        #expect(History.defaultPath(environment: ["XDG_STATE_HOME": "rel", "HOME": "/h"]) == "/h/.local/state/mkdbg/history")
        #expect(History.defaultPath(environment: [:]) == nil)
    }
}

/// mkdbg in a detached tmux session of its own (`tmux -S SOCKET`, the
/// socket in the test's temporary home, so no two tests share a server and
/// nothing is left in /tmp/tmux-UID), 200×50,
/// with a private HOME and XDG_STATE_HOME and nothing else from the
/// environment but what a test adds.
final class TmuxRepl {
    let socket: String
    let home: String
    /// Whether `kill` removes `home` (not when it came from another session).
    let ownsHome: Bool
    var stateHome: String { home + "/state" }
    static let session = "repl"
    /// Deadlines are generous (a loaded 2-core machine); polls are 50 ms.
    static let timeout: TimeInterval = 20

    /// `shell`, when given, runs in `sh -c` with `MKDBG` set to the mkdbg
    /// command line (instead of mkdbg itself).
    init(fixture: LabFixture, name: String, home: String? = nil, environment: [String: String] = [:],
         shell: String? = nil) throws {
        ownsHome = home == nil
        if let home {
            self.home = home
        } else {
            self.home = NSTemporaryDirectory() + "mkdbg-repl-\(getpid())-\(name)"
            try? FileManager.default.removeItem(atPath: self.home)
            try FileManager.default.createDirectory(atPath: self.home, withIntermediateDirectories: true)
        }
        socket = self.home + "/tmux-" + name
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.home, "XDG_STATE_HOME": stateHome,
                   "TERM": "tmux-256color", "LANG": "C.UTF-8"]
        env.merge(environment) { $1 }
        let assignments = env.sorted { $0.key < $1.key }.map { shellQuote("\($0.key)=\($0.value)") }
        let mkdbg = [try mkdbgPath(), "-c", fixture.elf, "-s", fixture.vmlinux].map(shellQuote).joined(separator: " ")
        let program = shell.map { "sh -c " + shellQuote("MKDBG=" + shellQuote(mkdbg) + "; " + $0) } ?? mkdbg
        let command = "exec env -i " + assignments.joined(separator: " ") + " " + program
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", Self.session, "-x", "200", "-y", "50", command])
    }

    func kill() {
        _ = try? tmux(["kill-server"], allowFailure: true)
        unlink(socket)
        if ownsHome { try? FileManager.default.removeItem(atPath: home) }
    }

    /// Types text as is (no key names).
    func type(_ text: String) {
        _ = try? tmux(["send-keys", "-t", Self.session, "-l", text])
    }

    /// Presses keys by tmux's names: Enter, Tab, Up, C-c, C-d, q.
    func keys(_ names: String...) {
        _ = try? tmux(["send-keys", "-t", Self.session] + names)
    }

    func capture(escapes: Bool = false) throws -> String {
        try tmux(["capture-pane", "-p", "-t", Self.session] + (escapes ? ["-e"] : []))
    }

    func cursorRow() throws -> Int {
        let text = try tmux(["display-message", "-p", "-t", Self.session, "#{cursor_y}"])
        guard let row = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw FixtureError("tmux: no cursor position in \(text.debugDescription)")
        }
        return row
    }

    static func lastLine(_ screen: String) -> String {
        screen.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// Polls the screen until `ready` holds; returns that screen.
    @discardableResult
    func waitFor(what: String = "the screen", timeout: TimeInterval = TmuxRepl.timeout,
                 _ ready: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var screen = ""
        while true {
            screen = (try? capture()) ?? screen
            if ready(screen) { return screen }
            if Date() > deadline {
                throw FixtureError("timed out waiting for \(what); the screen:\n\(screen)")
            }
            usleep(50_000)
        }
    }

    @discardableResult
    func waitForLastLine(_ line: String) throws -> String {
        try waitFor(what: "last line \(line.debugDescription)") { Self.lastLine($0) == line }
    }

    /// Until the last line is an empty prompt.
    func waitForPrompt() throws {
        try waitForLastLine("(mkdbg vmcore.elf)")
    }

    /// Until mkdbg (and with it the tmux session) has ended.
    func waitForExit() throws {
        let deadline = Date().addingTimeInterval(Self.timeout)
        while (try? tmux(["has-session", "-t", Self.session])) != nil {
            if Date() > deadline { throw FixtureError("mkdbg did not exit; the screen:\n\((try? capture()) ?? "")") }
            usleep(50_000)
        }
    }

    @discardableResult
    func tmux(_ arguments: [String], allowFailure: Bool = false) throws -> String {
        let r = try spawnAndWait(["tmux", "-S", socket] + arguments)
        if r.status != 0 && !allowFailure {
            throw FixtureError("tmux \(arguments.joined(separator: " ")): status \(r.status): \(r.err)")
        }
        return r.out
    }
}

/// Runs a program found in PATH and waits for it, with standard output and
/// error in temporary files. posix_spawn and waitpid rather than
/// Foundation's Process, which can miss the exit of tmux's client once it
/// has started a server; and with no signal blocked, so that the tmux
/// server and mkdbg get SIGINT from Ctrl-C whatever the test runner's
/// threads block.
func spawnAndWait(_ argv: [String]) throws -> (status: Int32, out: String, err: String) {
    let dir = NSTemporaryDirectory()
    var outTemplate = Array((dir + "mkdbg-spawn-out-XXXXXX").utf8CString)
    var errTemplate = Array((dir + "mkdbg-spawn-err-XXXXXX").utf8CString)
    let outFd = mkstemp(&outTemplate), errFd = mkstemp(&errTemplate)
    guard outFd >= 0, errFd >= 0 else { throw FixtureError("mkstemp: \(String(cString: strerror(errno)))") }
    let outPath = String(cString: outTemplate), errPath = String(cString: errTemplate)
    defer { close(outFd); close(errFd); unlink(outPath); unlink(errPath) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, outFd, 1)
    posix_spawn_file_actions_adddup2(&actions, errFd, 2)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), defaults = sigset_t()
    sigemptyset(&none)
    sigemptyset(&defaults)
    for s in [SIGINT, SIGPIPE, SIGTERM, SIGCHLD, SIGWINCH] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid = pid_t()
    let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArgs, environ)
    guard rc == 0 else { throw FixtureError("cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), out, err)
}

private func shellQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The built mkdbg next to the test bundle (as `runMkdbg` finds it).
private func mkdbgPath() throws -> String {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [exe.appendingPathComponent("mkdbg").path,
                      exe.deletingLastPathComponent().appendingPathComponent("mkdbg").path]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    throw FixtureError("no mkdbg binary next to \(exe.path)")
}
