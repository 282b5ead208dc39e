import MKFormat
import MKKernel

enum PsCommand {
    static let usage = "ps [-G | -t] [PID | COMM | TASK-ADDRESS ...]"

    static let spec = CommandSpec(
        name: "ps", group: "kernel",
        summary: "list tasks: PID, PPID, CPU, task_struct address, state, command",
        usage: usage, details: """

        Lists every task (every thread) as crash's ps and drgn's for_each_task do, plus each CPU's
        idle task (PID 0, swapper/N). '>' marks the task running on a CPU when the image was taken.
        The walks are bounded by the walk budget (set walk-limit): a damaged or hostile task list
        ends in warnings naming the task and link, and the tasks found are still listed.
          -G   thread-group leaders (processes) only
          -t   group threads under their leader, with a TGID column
        Arguments filter: a decimal PID, a task_struct address (0x...), or a command name
        (shell wildcards * and ? allowed). ST is the state letter as ps shows it:
        R running, S sleeping, D uninterruptible, T stopped, t traced, X dead, Z zombie,
        P parked, I idle.
        """,
        examples: ["ps", "ps 1", "ps mk-worker-1 kthreadd", "ps 'kworker/*'", "ps -G", "ps -t"],
        arguments: [ArgumentSpec("PID|COMM|TASK-ADDRESS", .task, .many)],
        options: [.flag("-G", help: "thread-group leaders (processes) only"),
                  .flag("-t", help: "group threads under their leader, with a TGID column")],
        json: ["tasks", "warnings"]
    ) { args, session in
        let filters = args.words("PID|COMM|TASK-ADDRESS")
        if args.has("-G") && args.has("-t") {
            throw CommandError.usage(command: "ps", message: "-G and -t do not go together", usage: usage)
        }
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        let list = try kernel.tasks(threads: !args.has("-G"), budget: budget)
        var tasks = list.tasks
        if !filters.isEmpty {
            tasks = tasks.filter { t in filters.contains { matches(t, $0) } }
        }
        if args.has("-t") { tasks = grouped(tasks) }
        let showTgid = args.has("-t")
        var lines = [header(showTgid)]
        for t in tasks { lines.append(row(t, showTgid: showTgid)) }
        let warnings = KernelCommandSupport.warnings("ps", list.warnings.map(\.description), budget: budget)
        if tasks.isEmpty && !filters.isEmpty {
            throw CommandError.unknownName(filters.joined(separator: " "), message: KernelCommandSupport.join("ps: no task matches \(filters.joined(separator: " "))", warnings.text))
        }
        let text = KernelCommandSupport.join(lines.joined(separator: "\n"), warnings.text)
        let json: [JSONValue] = tasks.map { t in
            .object([("pid", .int(Int64(t.pid))), ("tgid", .int(Int64(t.tgid))), ("ppid", .int(Int64(t.ppid))),
                     ("cpu", t.cpu.map { .int(Int64($0)) } ?? .null), ("state", .string(String(t.state))),
                     ("task", jsonAddress(t.address)), ("comm", .string(t.comm)),
                     ("thread_group_leader", .bool(t.isThreadGroupLeader)), ("idle", .bool(t.isIdle)),
                     ("active", .bool(t.isActive))])
        }
        return CommandOutput(text: text, fields: [("tasks", .array(json)), ("warnings", warnings.json)])
    }

    static func header(_ tgid: Bool) -> String {
        "   PID" + (tgid ? "   TGID" : "") + "    PPID  CPU  TASK              ST  COMM"
    }

    static func row(_ t: TaskInfo, showTgid: Bool) -> String {
        let mark = t.isActive ? ">" : " "
        let thread = showTgid && !t.isThreadGroupLeader && !t.isIdle
        var s = mark + pad(String(t.pid), 5)
        if showTgid { s += " " + pad(String(t.tgid), 6) }
        s += " " + pad(String(t.ppid), 7) + " " + pad(t.cpu.map(String.init) ?? "-", 4)
        s += "  " + hexDigits(t.address) + "  " + String(t.state) + "   " + (thread ? "  " : "") + t.comm
        return s
    }

    static func pad(_ s: String, _ width: Int) -> String { s.leftPadded(width, with: " ") }

    /// Leaders in PID order, each followed by its other threads.
    static func grouped(_ tasks: [TaskInfo]) -> [TaskInfo] {
        var threads: [Int: [TaskInfo]] = [:]
        var leaders: [TaskInfo] = []
        for t in tasks {
            if t.isThreadGroupLeader || t.isIdle { leaders.append(t) } else { threads[t.tgid, default: []].append(t) }
        }
        var out: [TaskInfo] = []
        var placed = Set<Int>()
        for l in leaders {
            out.append(l)
            if !l.isIdle, let ts = threads[l.tgid], placed.insert(l.tgid).inserted { out += ts }
        }
        // Threads whose leader was filtered out.
        for (tgid, ts) in threads.sorted(by: { $0.key < $1.key }) where !placed.contains(tgid) { out += ts }
        return out
    }

    static func matches(_ t: TaskInfo, _ word: String) -> Bool {
        if let pid = Int(word) { return t.pid == pid }
        if word.lowercased().hasPrefix("0x"), let a = UInt64(word.dropFirst(2), radix: 16) { return t.address == a }
        if word.contains("*") || word.contains("?") { return glob(Array(word), Array(t.comm)) }
        return t.comm == word
    }

    /// Shell-style `*` and `?`.
    static func glob(_ p: [Character], _ s: [Character]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == s[si]) {
                pi += 1; si += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
