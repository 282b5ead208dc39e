import MKFormat
import MKSystem
import MKKernel

/// `log` (`dmesg`): the kernel log from the printk ring buffer, formatted
/// as dmesg prints it.
enum LogCommand {
    static let usage = "log [-l N] [-t] [-L] [-x] [-c] [-C]"

    static let spec = CommandSpec(
        name: "log", aliases: ["dmesg"], group: "kernel",
        summary: "the kernel log (printk ring buffer), as dmesg prints it",
        usage: usage, details: """

              -l N  only the last N records
              -t    no timestamps (dmesg -t)
              -L    the raw syslog prefix <N> before each line, N = facility*8 + level (dmesg -r; -m as crash's log -m)
              -x    facility and level names before each line, "kern  :info  : " (dmesg -x)
              -c    the caller after the timestamp: [    T123] for a task, [     C1] for a CPU (printk caller id)
              -C    join continuation records (LOG_CONT) to the line before, as the console shows them;
                    by default each record is its own line, as dmesg reads them from /dev/kmsg
            A record whose text holds newlines prints as several lines, each with the record's timestamp.
            Control characters and invalid UTF-8 print as \\xNN. Records that cannot be read are skipped
            with a warning naming their descriptor; the rest is printed.
            """,
        examples: ["log", "log -l 20", "dmesg -L -c", "log -x -C", "log | grep -i panic"],
        options: [.option("-l", value: ArgumentSpec("N", .integer, expected: "needs a count"), help: "only the last N records"),
                  .flag("-t", help: "no timestamps"), .flag("-L", "-m", help: "the raw syslog prefix <N>"),
                  .flag("-x", help: "facility and level names"), .flag("-c", help: "the caller (task or CPU)"),
                  .flag("-C", help: "join continuation records")],
        json: ["records", "warnings"]
    ) { args, session in
        let options = try LogOptions(args)
        let kernel = try session.kernel()
        var log: PrintkLog
        let budget = session.walkBudget()
        do {
            log = try kernel.printkLog(budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("log: \(e)", cause: e)
        }
        log.warnings += budget.droppedSummaries.map { PrintkWarning(message: $0) }
        let entries = DmesgFormatter.entries(log.records, mergeContinuations: options.mergeContinuations)
        let shown = options.last.map { Array(entries.suffix($0)) } ?? entries
        var lines: [String] = []
        lines.reserveCapacity(shown.count + log.warnings.count)
        let formatter = DmesgFormatter(options: options)
        for e in shown { formatter.appendLines(e, to: &lines) }
        for w in log.warnings { lines.append("warning: " + w.description) }

        let records = options.last.map { Array(log.records.suffix($0)) } ?? log.records
        let json: [JSONValue] = records.map { r in
            var f: [(String, JSONValue)] = [("seq", .uint(r.seq)), ("ts_nsec", .uint(r.timestampNanoseconds)),
                                            ("level", .int(Int64(r.level))), ("facility", .int(Int64(r.facility))),
                                            ("caller", r.caller.map { .string($0.description) } ?? .null),
                                            ("text", .string(r.text)), ("continuation", .bool(r.isContinuation))]
            if !r.subsystem.isEmpty { f.append(("subsystem", .string(r.subsystem))) }
            if !r.device.isEmpty { f.append(("device", .string(r.device))) }
            return .object(f)
        }
        return CommandOutput(text: lines.joined(separator: "\n"),
                             fields: [("records", .array(json)), ("warnings", .array(log.warnings.map { .string($0.description) }))])
    }
}

struct LogOptions {
    var last: Int?
    var timestamps = true
    var rawLevel = false
    var levelNames = false
    var caller = false
    var mergeContinuations = false

    /// From the words after `log`, read by its spec.
    init(_ words: [String]) throws {
        let line = CommandArguments(tolerant: (["log"] + words).joined(separator: " "))
        try self.init(CommandParser.parse(line, spec: LogCommand.spec).1)
    }

    init(_ args: CommandInvocation) throws {
        func bad(_ message: String) -> CommandError { .usage(command: "log", message: message, usage: LogCommand.usage) }
        timestamps = !args.has("-t")
        rawLevel = args.has("-L")
        levelNames = args.has("-x")
        caller = args.has("-c")
        mergeContinuations = args.has("-C")
        if let n = args.value("-l") { last = try Self.count(n, bad) }
    }

    static func count(_ s: String, _ bad: (String) -> CommandError) throws -> Int {
        guard let n = Int(s), n >= 0 else { throw bad("-l takes a count of records, not \(s)") }
        return n
    }
}

/// dmesg's formatting of printk records.
struct DmesgFormatter {
    /// A line-to-be: a record, with the text of the continuation records joined to it under `-C`.
    struct Entry {
        var record: PrintkRecord
        var text: [UInt8]
    }

    let options: LogOptions

    init(options: LogOptions) { self.options = options }

    static func entries(_ records: [PrintkRecord], mergeContinuations: Bool) -> [Entry] {
        var out: [Entry] = []
        out.reserveCapacity(records.count)
        for r in records {
            if mergeContinuations, r.isContinuation, let last = out.last, last.record.caller == r.caller {
                out[out.count - 1].text += r.textBytes
            } else {
                out.append(Entry(record: r, text: r.textBytes))
            }
        }
        return out
    }

    static let facilities = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
                             "uucp", "cron", "authpriv", "ftp", "res0", "res1", "res2", "res3",
                             "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]
    static let levels = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"]

    /// `[    1.234567]`: seconds padded to five places, microseconds, as dmesg prints them.
    static func timestamp(_ ns: UInt64) -> String {
        let seconds = String(ns / 1_000_000_000)
        let micros = String(ns % 1_000_000_000 / 1000)
        return "[" + String(repeating: " ", count: max(0, 5 - seconds.count)) + seconds + "."
            + String(repeating: "0", count: 6 - micros.count) + micros + "]"
    }

    func prefix(_ r: PrintkRecord) -> String {
        var p = ""
        if options.rawLevel { p += "<\(r.facility << 3 | r.level)>" }
        if options.levelNames {
            let f = r.facility >= 0 && r.facility < Self.facilities.count ? Self.facilities[r.facility] : String(r.facility)
            let l = r.level >= 0 && r.level < Self.levels.count ? Self.levels[r.level] : String(r.level)
            p += pad(f, 6) + ":" + pad(l, 6) + ": "
        }
        if options.timestamps { p += Self.timestamp(r.timestampNanoseconds) }
        if options.caller {
            let c = r.caller?.description ?? "?"
            p += "[" + String(repeating: " ", count: max(0, 6 - c.count)) + c + "]"
        }
        if options.timestamps || options.caller { p += " " }
        return p
    }

    func pad(_ s: String, _ n: Int) -> String { s.rightPadded(n) }

    func appendLines(_ e: Entry, to lines: inout [String]) {
        let p = prefix(e.record)
        for line in e.text.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lines.append(p + Self.printable(line))
        }
    }

    /// UTF-8 text with control characters (but tab) and invalid bytes as `\xNN`.
    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f || $0 == 0x09 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var it = bytes.makeIterator()
        var consumed = bytes.startIndex
        func escape(_ b: UInt8) {
            let h = String(b, radix: 16)
            out += "\\x" + (h.count < 2 ? "0" : "") + h
        }
        loop: while true {
            switch parser.parseScalar(from: &it) {
            case let .valid(encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                if scalar.value < 0x20 && scalar.value != 0x09 || scalar.value == 0x7f {
                    escape(UInt8(scalar.value))
                } else {
                    out.unicodeScalars.append(scalar)
                }
                consumed += encoded.count
            case let .error(length):
                for b in bytes[consumed..<(consumed + length)] { escape(b) }
                consumed += length
            case .emptyInput:
                break loop
            }
        }
        return out
    }
}
