import MKFormat
import MKSystem
import MKMemory
import MKKernel

/// crash's `search [-k|-p|-u] [-s START] [-e END] [-m MAX] VALUE | -w VALUE | -h VALUE | -c STRING`:
/// where a value or a string is in memory.
enum SearchCommand {
    static let usage = "search [-k | -p | -u [-t PID|TASK]] [-s START] [-e END] [-m MAX] (VALUE | -w VALUE | -h VALUE | -c STRING)"
    static let defaultLimit = 1000

    static let spec = CommandSpec(
        name: "search", group: "kernel",
        summary: "find a value (8, 4 or 2 bytes, aligned) or a string in all of memory, at memory speed",
        usage: usage, details: """

        Searches every byte of RAM the image holds, in large chunks. Hits are shown at their
        direct-map address (kernel virtual: every page of RAM is there, so kernel text, data,
        slab, vmalloc and user pages alike), or with -p at their physical address. -s/-e bound the
        search (addresses of the same kind; -k, crash's flag for kernel virtual addresses, is the default). A VALUE is an 8-byte word at 8-byte-aligned addresses
        (-w a 4-byte word, -h a 2-byte one); -c STRING its bytes anywhere (quote it for spaces).
        At most -m MAX hits (default \(defaultLimit)); a progress bar on a terminal; Ctrl-C stops it.
        -u searches a task's user address space instead (crash's -u): the pages its VMAs map
        through its own page tables, hits at user virtual addresses; the task is -t PID|TASK,
        else the selected one (set PID), else the panicking CPU's; -s/-e are user addresses;
        at most \(Kernel.userSearchPageLimit) pages of address space are walked.
        """,
        examples: ["search -c MKDBG-MARKER", "search -u -t 1 -c PATH=", "search 0xffffffff81000000", "search -p -w 0xdeadbeef", "search -s 0xffff888000000000 -e 0xffff888010000000 -h 0x1234"],
        arguments: [ArgumentSpec("VALUE", .expression, .optional, expected: "a value to find")],
        options: [.flag("-k", help: "kernel virtual addresses (the default)"),
                  .flag("-p", help: "physical addresses"),
                  .flag("-u", help: "a task's user address space"),
                  .option("-t", value: ArgumentSpec("PID|TASK", .task, expected: "a PID or task address"), help: "the task for -u"),
                  .option("-s", value: ArgumentSpec("START", .address, expected: "a start address"), help: "search from START"),
                  .option("-e", value: ArgumentSpec("END", .address, expected: "an end address"), help: "search below END"),
                  .option("-m", value: ArgumentSpec("MAX", .integer, expected: "a number of hits"), help: "at most MAX hits"),
                  .option("-c", value: ArgumentSpec("STRING", .expression, expected: "a string"), help: "a string"),
                  .option("-w", value: ArgumentSpec("VALUE", .expression, expected: "a 4-byte value"), help: "a 4-byte value"),
                  .option("-h", value: ArgumentSpec("VALUE", .expression, expected: "a 2-byte value"), help: "a 2-byte value")],
        json: ["kind", "needle", "physical", "user", "task", "pid", "comm", "hits", "truncated", "searched_bytes", "skipped_pages",
               "unmapped_pages", "seconds"]
    ) { args, session in
        let target = try session.requireTarget()
        let memory = target.memory
        let physical = args.has("-p")
        func number(_ text: String, _ what: String) throws -> UInt64 {
            if let n = AddressExpression.parseNumber(text) { return n }
            return try ExamineCommand.address(of: text, session, physical: true, command: "search")
        }
        // What to look for: bytes, and the alignment of a hit.
        let needle: [UInt8], alignment: Int, kind: String, shown: String
        if let text = args.value("-c") {
            var s = text
            if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { s = String(s.dropFirst().dropLast()) }
            guard !s.isEmpty else { throw CommandError.invalidArgument(text, message: "search: -c needs a non-empty string") }
            (needle, alignment, kind, shown) = (Array(s.utf8), 1, "string", s)
        } else {
            let (word, size): (String, Int)
            if let w = args.value("-w") { (word, size) = (w, 4) } else if let h = args.value("-h") { (word, size) = (h, 2) } else {
                guard let v = args.words("VALUE").first else {
                    throw CommandError.usage(command: "search", message: "expected a value, or -c STRING", usage: usage)
                }
                (word, size) = (v, 8)
            }
            let v = try number(word, "value")
            guard size == 8 || v >> UInt64(8 * size) == 0 else {
                throw CommandError.invalidArgument(word, message: "search: \(word) does not fit in \(size) bytes")
            }
            (needle, alignment, kind, shown) = ((0..<size).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) }, size,
                                                 "value\(size * 8)", "0x" + String(v, radix: 16))
        }
        var limit = defaultLimit
        if let m = args.value("-m") {
            guard let n = Int(m), n > 0, n <= 10_000_000 else { throw CommandError.invalidArgument(m, message: "search: -m needs a number of hits from 1 to 10000000") }
            limit = n
        }
        if args.has("-k") && (physical || args.has("-u")) {
            throw CommandError.invalidArgument("-k", message: "search: -k (kernel virtual, the default) excludes -p and -u")
        }
        if args.has("-u") {
            guard !physical else { throw CommandError.invalidArgument("-u", message: "search: -u and -p exclude each other") }
            return try userSearch(args, session, needle: needle, alignment: alignment, kind: kind, shown: shown, limit: limit, number: number)
        }
        guard args.value("-t") == nil else { throw CommandError.invalidArgument("-t", message: "search: -t goes with -u") }
        // Bounds: physical, or direct-map addresses turned physical.
        let base = physical ? 0 : (memory.addressLayout?.directMapBase ?? 0)
        guard physical || base != 0 else { throw CommandError.targetState("search: the direct map's base is unknown; search -p searches physical memory") }
        func bound(_ option: String) throws -> UInt64? {
            guard let w = args.value(option) else { return nil }
            let a = try number(w, option)
            guard a >= base else { throw CommandError.invalidArgument(w, message: "search: \(w) is below the direct map (\(hex(base))); use -p for physical addresses") }
            return a - base
        }
        let start = try bound("-s") ?? 0, end = try bound("-e") ?? UInt64.max
        guard start < end else { throw CommandError.invalidArgument(args.value("-e") ?? "", message: "search: the end is not above the start") }
        let bar = ProgressBar(label: "search", total: memory.image.physicalRanges.reduce(UInt64(0)) { $0 &+ $1.size })
        let clock = Stopwatch()
        let result: PhysicalSearchResult
        do {
            result = try memory.searchPhysical(needle, alignment: alignment, range: start..<end, limit: limit) { done, _ in bar?.update(done) }
        } catch let e as CancellationError {
            bar?.finish()
            throw CommandError.failed("search: interrupted", cause: e)
        }
        bar?.finish()
        let seconds = clock.seconds
        let shownHits = result.hits.map { physical ? $0 : base &+ $0 }
        var lines: [String] = []
        for (hit, shownAt) in zip(result.hits, shownHits) {
            if kind == "string" {
                // The string and what follows it, up to 48 printable bytes.
                let tail = (try? memory.readPhysical(hit, count: 48)) ?? needle
                let text = String(decoding: tail.prefix { $0 >= 0x20 && $0 < 0x7f }, as: UTF8.self)
                lines.append("\(hexDigits(shownAt)): \(text)")
            } else {
                lines.append("\(hexDigits(shownAt)): " + String(shown.dropFirst(2)))
            }
        }
        if result.hits.isEmpty { lines.append("search: \(shown) not found in \(sizeText(result.searched))") }
        if result.truncated { lines.append("(search stops at \(limit) hits; -m MAX for more)") }
        if result.skippedPages > 0 { lines.append("(\(result.skippedPages) pages the image does not hold were skipped)") }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [
            ("kind", .string(kind)), ("needle", .string(shown)), ("physical", .bool(physical)), ("user", .bool(false)),
            ("hits", .array(shownHits.map { jsonAddress($0) })), ("truncated", .bool(result.truncated)),
            ("searched_bytes", .uint(result.searched)), ("skipped_pages", .uint(result.skippedPages)), ("seconds", .double(seconds))])
    }

    /// `search -u`: the task's user pages.
    static func userSearch(_ args: CommandInvocation, _ session: Session, needle: [UInt8], alignment: Int, kind: String,
                           shown: String, limit: Int, number: (String, String) throws -> UInt64) throws -> CommandOutput {
        let header = try TaskHeader.resolve(args.value("-t"), session: session, command: "search", usage: usage)
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("search") { try TaskMemoryLayout(kernel) }
        guard let map = try kernel.memoryMap(task: header.task, layout: layout, budget: session.walkBudget()) else {
            throw CommandError.targetState("search: PID \(header.pid) (\(header.comm)) is a kernel thread: it has no user address space")
        }
        let start = try args.value("-s").map { try number($0, "-s") } ?? 0
        let end = try args.value("-e").map { try number($0, "-e") } ?? UInt64.max
        guard start < end else { throw CommandError.invalidArgument(args.value("-e") ?? "", message: "search: the end is not above the start") }
        let clock = Stopwatch()
        let result: UserSearchResult
        do {
            result = try kernel.searchUser(map, needle: needle, alignment: alignment, range: start..<end, limit: limit)
        } catch let e as CancellationError {
            throw CommandError.failed("search: interrupted", cause: e)
        }
        let seconds = clock.seconds
        var lines = header.lines
        for hit in result.hits {
            if kind == "string" {
                // The string and what follows it in the same page, up to 48 printable bytes.
                let room = Int(min(48, 4096 - (hit & 4095)))
                let page = try? kernel.userPages(pgd: map.pgd, start: hit, end: hit &+ 1, limit: 1).pages.first?.physical
                let tail = page.flatMap { $0 }.flatMap { try? kernel.memory.readPhysical($0 | (hit & 4095), count: room) } ?? needle
                lines.append("\(hexDigits(hit)): " + String(decoding: tail.prefix { $0 >= 0x20 && $0 < 0x7f }, as: UTF8.self))
            } else {
                lines.append("\(hexDigits(hit)): " + String(shown.dropFirst(2)))
            }
        }
        if result.hits.isEmpty { lines.append("search: \(shown) not found in \(sizeText(result.searched)) of PID \(header.pid)'s user pages") }
        if result.truncated { lines.append("(search stops at \(limit) hits; -m MAX for more)") }
        if result.cut { lines.append("(search stops after \(Kernel.userSearchPageLimit) pages of address space)") }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: header.fields + [
            ("kind", .string(kind)), ("needle", .string(shown)), ("physical", .bool(false)), ("user", .bool(true)),
            ("hits", .array(result.hits.map { jsonAddress($0) })), ("truncated", .bool(result.truncated || result.cut)),
            ("searched_bytes", .uint(result.searched)), ("skipped_pages", .uint(0)), ("unmapped_pages", .uint(result.unmappedPages)),
            ("seconds", .double(seconds))])
    }
}
