import MKFormat
import MKSystem
import MKKernel
import MKMemory

/// crash's `vm [PID|TASK]`: a task's mm (page table, RSS, total VM) and its
/// VMAs from the mm's maple tree, file-backed ones with their paths.
enum VmCommand {
    static let usage = "vm [-p] [PID | TASK-ADDRESS]"
    /// At most this many pages are translated by one `vm -p`.
    static let pageLimit = 65536

    static let spec = CommandSpec(
        name: "vm", group: "kernel",
        summary: "a task's address space: mm, PGD, RSS, total VM, and each VMA with its file",
        usage: usage, details: """

        No argument: the selected task (set PID, bt PID), else the panicking CPU's. The VMAs come
        from mm->mm_mt, the maple tree of Linux 6.1 and later (older kernels are refused).
        RSS counts the mm's file, anonymous and shmem pages (on 6.1 with the threads' cached counts); FLAGS is vm_flags in hex; FILE is
        the mapped file's path as d_path builds it. A kernel thread has no mm. -p: after each VMA,
        each of its pages and the physical address the task's page tables (mm->pgd) map it to, or
        "(not mapped)"; at most \(pageLimit) pages in all.
        """,
        examples: ["vm", "vm 1", "vm 0xffff888003a3c000", "vm -p 1"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        options: [.flag("-p", help: "each VMA's pages and the physical pages behind them")],
        json: ["task", "pid", "comm", "cpu", "mm", "pgd", "rss_kb", "total_vm_kb", "vmas", "warnings"],
        excess: "expected at most one PID or task address"
    ) { args, session in
        let header = try TaskHeader.resolve(args.words("PID|TASK-ADDRESS").first, session: session, command: "vm", usage: usage)
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("vm") { try TaskMemoryLayout(kernel) }
        let budget = session.walkBudget()
        var lines = header.lines
        var fields = header.fields
        guard let map = try kernel.memoryMap(task: header.task, layout: layout, budget: budget) else {
            lines.append("       MM               PGD          RSS    TOTAL_VM")
            lines.append("       0                 0            0k      0k")
            lines.append("(PID \(header.pid) is a kernel thread: it has no mm)")
            fields += [("mm", .null), ("pgd", .null), ("rss_kb", .null), ("total_vm_kb", .null), ("vmas", .array([])),
                       ("warnings", .array([]))]
            return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
        }
        // mm counters count base pages: 16 KiB or 64 KiB on some arm64 kernels.
        let pageKB = ((try? kernel.memory.requireLayout().basePageSize) ?? 4096) / 1024
        let rss = map.rssPages.map { "\($0 &* pageKB)k" } ?? "?"
        let total = "\(map.totalVMPages &* pageKB)k"
        lines.append("       MM               PGD          RSS    TOTAL_VM")
        lines.append("\(hexDigits(map.mm))  \(hexDigits(map.pgd))  " + rss.rightPadded(7) + "  " + total)
        lines.append("      VMA           START       END     FLAGS FILE")
        var vmas: [JSONValue] = []
        var left = pageLimit, cut = false
        for a in map.areas {
            let start = String(a.start, radix: 16).leftPadded(12, with: " "), end = String(a.end, radix: 16).leftPadded(12, with: " ")
            let flags = String(a.flags, radix: 16).leftPadded(8, with: " ")
            lines.append("\(hexDigits(a.address)) \(start) \(end) \(flags) \(a.path ?? "")")
            var object: [(String, JSONValue)] = [("address", jsonAddress(a.address)), ("start", jsonAddress(a.start)), ("end", jsonAddress(a.end)),
                                                 ("flags", jsonAddress(a.flags)), ("file", a.file == 0 ? .null : jsonAddress(a.file)),
                                                 ("path", a.path.map { .string($0) } ?? .null)]
            if args.has("-p") {
                let r: (pages: [UserPage], cut: Bool)
                do { r = try kernel.userPages(pgd: map.pgd, start: a.start, end: a.end, limit: left) } catch let e as MemoryError {
                    throw CommandError.failed("vm -p: cannot walk the page tables of mm \(hex(map.mm)) (pgd \(hex(map.pgd))): \(e)", cause: e)
                }
                left -= r.pages.count
                cut = cut || r.cut
                lines.append("      VIRTUAL         PHYSICAL")
                for p in r.pages {
                    lines.append(String(p.virtual, radix: 16).leftPadded(13, with: " ") + "  "
                                 + (p.physical.map { String($0, radix: 16).leftPadded(15, with: " ") } ?? "   (not mapped)"))
                }
                object.append(("pages", .array(r.pages.map { p in
                    .object([("virtual", jsonAddress(p.virtual)), ("physical", p.physical.map { jsonAddress($0) } ?? .null)])
                })))
            }
            vmas.append(.object(object))
        }
        if cut { lines.append("(vm -p stops at \(pageLimit) pages)") }
        let w = KernelCommandSupport.warnings("vm", map.warnings.map(\.description), budget: budget)
        fields += [("mm", jsonAddress(map.mm)), ("pgd", jsonAddress(map.pgd)),
                   ("rss_kb", map.rssPages.map { .uint($0 &* pageKB) } ?? .null), ("total_vm_kb", .uint(map.totalVMPages &* pageKB)),
                   ("vmas", .array(vmas)), ("warnings", w.json)]
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text), fields: fields)
    }
}
