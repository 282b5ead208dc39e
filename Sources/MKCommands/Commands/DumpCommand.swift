#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// gdb's `dump`: raw bytes of virtual memory, physical memory or a value,
/// into a file, written atomically.
enum DumpCommand {
    static let usage = "dump [binary] memory FILE START END | dump [binary] physical FILE START END | dump [binary] value FILE EXPR"
    /// Largest range one dump writes.
    static let maxSize: UInt64 = 64 << 30
    /// Bytes read (and written) per step; the whole range is never held.
    static let chunkSize = 1 << 20

    static let spec = CommandSpec(
        name: "dump", group: "memory",
        summary: "write memory, physical memory or a value's bytes to a file, as gdb's dump",
        usage: usage,
        examples: ["dump memory task.bin &init_task &init_task + 1", "dump physical low.bin 0 0x100000",
                   "dump value uts.bin init_uts_ns", "dump memory text.bin _stext _etext"],
        arguments: [ArgumentSpec("KIND", .words(["memory", "physical", "value"]), .optional, expected: "memory, physical or value"),
                    ArgumentSpec("ARGS", .text, .many)],
        options: [.flag("binary", help: "raw bytes (the only format mkdbg writes)")],
        subcommands: [range("memory", "virtual memory from START up to END"), range("physical", "physical memory from START up to END"),
                      value],
        json: fields, optionsFirst: true, repeats: false
    ) { args, _ in
        // No kind matched.
        if let f = args.argument("KIND"), ["ihex", "srec", "tekhex", "verilog"].contains(f) {
            throw CommandError.invalid("dump: the \(f) format is not supported; mkdbg writes raw binary (dump memory, dump physical, dump value)")
        }
        guard let kind = args.argument("KIND") else {
            throw CommandError.usage(command: "dump", message: "expected memory, physical or value", usage: usage)
        }
        throw CommandError.usage(command: "dump", message: "unknown kind \"\(kind)\": expected memory, physical or value", usage: usage)
    }

    static let fields = ["file", "kind", "start", "end", "size", "seconds", "expression", "type"]

    static func range(_ kind: String, _ summary: String) -> CommandSpec {
        CommandSpec(name: kind, summary: summary, examples: spec(examplesOf: kind),
                    arguments: [.file("FILE"), .address("START", .one, expected: "START and END"),
                                .address("END", .oneOrMore, expected: "START and END")],
                    json: fields, repeats: false) { args, session in
            try dumpRange(kind, file: args.argument("FILE") ?? "", args.words("START") + args.words("END"), session)
        }
    }

    static func spec(examplesOf kind: String) -> [String] {
        kind == "memory" ? ["dump memory task.bin &init_task &init_task + 1", "dump memory text.bin _stext _etext"]
                         : ["dump physical low.bin 0 0x100000"]
    }

    static let value = CommandSpec(
        name: "value", summary: "a value's bytes (an lvalue's memory, or the computed value)",
        examples: ["dump value uts.bin init_uts_ns"],
        arguments: [.file("FILE"), .expression("EXPR")], json: fields, repeats: false
    ) { args, session in
        try dumpValue(args.argument("EXPR") ?? "", file: args.argument("FILE") ?? "", session, try session.requireTarget())
    }

    static func dumpRange(_ kind: String, file: String, _ rest: [String], _ session: Session) throws -> CommandOutput {
        let target = try session.requireTarget()
        let label = "dump \(kind)"
        let physical = kind == "physical"
        let (start, end) = try startAndEnd(rest, session, physical: physical)
        guard end > start else {
            throw CommandError.invalid("\(label): END \(hex(end)) is not above START \(hex(start)); nothing to write")
        }
        let size = end - start
        guard size <= maxSize else {
            throw CommandError.invalid("\(label): \(hex(start))-\(hex(end)) is \(sizeText(size)), more than the \(sizeText(maxSize)) a dump may write")
        }
        let memory = target.memory
        let seconds = try write(file: file, label: label, size: size, space: physical ? "physical" : "virtual", start: start) { offset, buffer in
            if physical {
                try memory.readPhysical(start + offset, into: buffer)
            } else {
                try memory.readVirtual(start + offset, into: buffer)
            }
        }
        return output(file: file, kind: kind, start: start, size: size, seconds: seconds, extra: [])
    }

    // MARK: arguments

    /// START and END from the words after FILE. As gdb, START is one word
    /// and END the rest; when that does not evaluate, other splits are tried
    /// (so `&init_task + 1 &init_task + 2` works).
    static func startAndEnd(_ words: [String], _ session: Session, physical: Bool) throws -> (UInt64, UInt64) {
        func attempt(_ k: Int) throws -> (UInt64, UInt64) {
            let s = try address(words[..<k].joined(separator: " "), session, physical: physical, role: "START")
            let e = try address(words[k...].joined(separator: " "), session, physical: physical, role: "END")
            return (s, e)
        }
        do {
            return try attempt(1)
        } catch {
            for k in 2..<words.count {
                if let r = try? attempt(k) { return r }
            }
            throw error
        }
    }

    /// An address from an expression, by gdb's rules: a struct, array or
    /// function lvalue means its address; a pointer or integer is the address.
    /// Physical addresses (and targets without DWARF) take numbers and
    /// `symbol±offset`.
    static func address(_ text: String, _ session: Session, physical: Bool, role: String) throws -> UInt64 {
        let target = try session.requireTarget()
        if physical || target.vmlinux == nil {
            return try AddressExpression.evaluate(text, target: target)
        }
        let evaluator = try session.evaluator()
        let value = try ExpressionRunner.evaluate(text, evaluator)
        switch value.type.resolved.kind {
        case .structure, .union, .array, .function:
            guard let a = value.address else { throw CommandError.invalid("dump: \(role) \(text) is not in memory") }
            return a
        default:
            guard value.type.isScalar else {
                throw CommandError.invalid("dump: cannot use \(text), of type \(value.type), as \(role)")
            }
            return try value.integerBits(target.memory)
        }
    }

    static func dumpValue(_ text: String, file: String, _ session: Session, _ target: Target) throws -> CommandOutput {
        let evaluator = try session.evaluator()
        let value = try ExpressionRunner.evaluate(text, evaluator)
        let typeName = TypeFormatter.name(of: value.type)
        let extra: [(String, JSONValue)] = [("expression", .string(text)), ("type", .string(typeName))]
        if let address = value.address, !value.isBitfield {
            // An lvalue: its bytes in memory, streamed like dump memory.
            guard let size = value.type.byteSize else {
                throw CommandError.invalid("dump value: \(text) has type \(typeName), whose size is unknown")
            }
            guard size > 0 else { throw CommandError.invalid("dump value: \(text) has size 0; nothing to write") }
            guard size <= maxSize else {
                throw CommandError.invalid("dump value: \(text) is \(sizeText(size)), more than the \(sizeText(maxSize)) a dump may write")
            }
            guard checkedAdd(address, size) != nil else {
                throw CommandError.invalid("dump value: \(text) at \(hex(address)) runs past the top of the address space")
            }
            let memory = target.memory
            let seconds = try write(file: file, label: "dump value", size: size, space: "virtual", start: address) { offset, buffer in
                try memory.readVirtual(address + offset, into: buffer)
            }
            return output(file: file, kind: "value", start: address, size: size, seconds: seconds, extra: extra)
        }
        // A computed value (or a bitfield): the bytes of its type.
        var bytes: [UInt8]
        if value.isBitfield {
            let bits = try value.integerBits(target.memory)
            let size = Int(min(value.type.resolved.byteSize ?? 8, 8))
            bytes = (0..<size).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
        } else {
            bytes = try value.load(target.memory)
        }
        guard !bytes.isEmpty else { throw CommandError.invalid("dump value: \(text) has no bytes; nothing to write") }
        let all = bytes
        let seconds = try write(file: file, label: "dump value", size: UInt64(all.count), space: "value", start: 0) { offset, buffer in
            all.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[Int(offset)..<(Int(offset) + buffer.count)]))
            }
        }
        var fields = extra
        fields.append(("file", .string(file)))
        fields.append(("kind", .string("value")))
        fields.append(("size", .uint(UInt64(all.count))))
        fields.append(("seconds", .double(seconds)))
        return CommandOutput(text: "wrote \(all.count) bytes (the value of \(text)) to \(file)", fields: fields)
    }

    // MARK: writing

    /// Streams `size` bytes from `read` (offset within the range, buffer) into
    /// `file` through a temporary file that is renamed into place only when
    /// everything was read and written. Returns the seconds taken.
    static func write(file: String, label: String, size: UInt64, space: String, start: UInt64,
                      read: (UInt64, UnsafeMutableRawBufferPointer) throws -> Void) throws -> Double {
        let clock = Stopwatch()
        let out = try AtomicOutputFile(path: file, command: label)
        let progress = ProgressBar(label: label, total: size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(size, UInt64(chunkSize))), alignment: 4096)
        defer { buffer.deallocate() }
        do {
            var done: UInt64 = 0
            while done < size {
                let n = Int(min(UInt64(buffer.count), size - done))
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                try Cancellation.check()
                do {
                    try read(done, chunk)
                } catch let e as MemoryError {
                    throw CommandError.failed("\(label): \(unreadable(e, space: space)); nothing written to \(file)", cause: e)
                }
                try out.append(UnsafeRawBufferPointer(chunk))
                done += UInt64(n)
                progress?.update(done)
            }
            progress?.finish()
            try out.commit()
        } catch {
            progress?.finish()
            out.discard()
            if let e = error as? CommandError { throw e }
            throw CommandError.failed("\(label): \(error); nothing written to \(file)", cause: error)
        }
        return clock.seconds
    }

    /// "cannot read virtual address 0x…: why", naming the first address that failed.
    static func unreadable(_ e: MemoryError, space: String) -> String {
        switch e {
        case let .physicalNotPresent(a, image):
            return "cannot read physical address \(hex(a)): not present in \(image)"
        case let .pageExcluded(a, image):
            return "cannot read physical address \(hex(a)): page excluded from \(image)"
        case let .virtualNotMapped(a, reason):
            return "cannot read \(space == "physical" ? "physical" : "virtual") address \(hex(a)): \(reason)"
        case let .corrupt(a, detail):
            return "cannot read \(space == "physical" ? "physical" : "virtual") address \(hex(a)): \(detail)"
        }
    }

    static func output(file: String, kind: String, start: UInt64, size: UInt64, seconds: Double,
                       extra: [(String, JSONValue)]) -> CommandOutput {
        let end = start + size
        let space = kind == "physical" ? "physical" : "virtual"
        var text = "wrote \(size) bytes (\(space) \(hex(start))-\(hex(end))) to \(file)"
        if size >= 16 << 20 { text += " in \(fixed(seconds, 2)) s (\(fixed(rate(size, seconds), 0)) MiB/s)" }
        var fields = extra
        fields += [("file", .string(file)), ("kind", .string(kind)), ("start", jsonAddress(start)), ("end", jsonAddress(end)),
                   ("size", .uint(size)), ("seconds", .double(seconds))]
        return CommandOutput(text: text, fields: fields)
    }
}

func rate(_ bytes: UInt64, _ seconds: Double) -> Double {
    seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
}

/// A size for messages: bytes, KiB, MiB or GiB.
func sizeText(_ n: UInt64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
    if n >= 1 << 30 { return fixed(Double(n) / Double(1 << 30), 1) + " GiB" }
    if n >= 1 << 20 { return fixed(Double(n) / Double(1 << 20), 1) + " MiB" }
    if n >= 1 << 10 { return fixed(Double(n) / Double(1 << 10), 1) + " KiB" }
    return "\(n) bytes"
}

/// `value` with `digits` digits after the point (no Foundation).
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "?" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((abs(value) * scale).rounded())
    let sign = value < 0 && n != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(n) }
    let whole = n / Int64(scale), frac = String(n % Int64(scale))
    return sign + String(whole) + "." + String(repeating: "0", count: digits - frac.count) + frac
}


/// A file written through a temporary file beside it (same directory, so
/// the final `rename` is atomic): readers see the old file or the whole new
/// one, never a part. `discard` removes the temporary file.
final class AtomicOutputFile: CoreOutput {
    let path: String
    let temporaryPath: String
    private var fd: Int32
    private var offset: UInt64 = 0

    init(path: String, command: String) throws {
        guard !path.isEmpty else { throw CommandError.invalid("\(command): expected a file name") }
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw CommandError.invalid("\(command): \(path): is a directory, expected a file to write")
            }
            if (st.st_mode & S_IFMT) != S_IFREG {
                throw CommandError.invalid("\(command): \(path): not a regular file; mkdbg replaces files atomically and will not replace this one")
            }
        }
        let directory: String
        let base: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            base = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            base = path
        }
        guard !base.isEmpty else {
            throw CommandError.invalid("\(command): \(path): names a directory, expected a file to write")
        }
        var dst = stat()
        if stat(directory, &dst) != 0 {
            let why = String(cString: strerror(errno))
            throw CommandError.invalid("\(command): cannot write \(path): directory \(directory): \(why)")
        }
        if (dst.st_mode & S_IFMT) != S_IFDIR {
            throw CommandError.invalid("\(command): cannot write \(path): \(directory) is not a directory")
        }
        self.path = path
        var made: Int32 = -1
        var tmp = ""
        for attempt in 0..<16 {
            tmp = "\(directory)/.\(base).mkdbg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(attempt)"
            made = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if made >= 0 || errno != EEXIST { break }
        }
        guard made >= 0 else {
            let why = String(cString: strerror(errno))
            throw CommandError.invalid("\(command): cannot write \(path): cannot create a file in \(directory): \(why)")
        }
        self.fd = made
        self.temporaryPath = tmp
        self.command = command
    }

    private let command: String

    deinit {
        // Neither committed nor discarded: never leave the temporary file.
        if fd >= 0 { discard() }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at position: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(position + UInt64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw CommandError.invalid("\(command): cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Writes at the end of what was appended so far.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw CommandError.invalid("\(command): cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        offset += UInt64(bytes.count)
    }

    func finish(size: UInt64) throws {
        if ftruncate(fd, off_t(size)) != 0 {
            throw CommandError.invalid("\(command): cannot set the size of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Flushes the temporary file to disk, closes it and renames it over
    /// `path`: after a crash, `path` is the old file or the whole new one.
    func commit() throws {
        let synced = fsync(fd) == 0
        let closed = synced ? close(fd) : { _ = close(fd); return -1 }()
        fd = -1
        if closed != 0 {
            let why = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw CommandError.invalid("\(command): cannot write \(path): \(why)")
        }
        if rename(temporaryPath, path) != 0 {
            let why = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw CommandError.invalid("\(command): cannot write \(path): \(why)")
        }
    }

    func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
    }

    /// Blocks the file takes on disk, in bytes (after commit).
    static func diskBytes(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_blocks) * 512
    }
}

/// A progress bar on standard error for long writes: only when standard
/// error is a terminal and the job is over 16 MiB; redrawn at most ten
/// times a second, erased when done.
final class ProgressBar {
    static let threshold: UInt64 = 16 << 20
    let label: String
    let total: UInt64
    private var lastDraw = 0.0
    private let clock = Stopwatch()

    init?(label: String, total: UInt64) {
        guard total > Self.threshold, isatty(STDERR_FILENO) != 0 else { return nil }
        self.label = label
        self.total = total
    }

    func update(_ done: UInt64) {
        let now = clock.seconds
        guard now - lastDraw >= 0.1 || done == total else { return }
        lastDraw = now
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r\(label) [\(bar)] \(fixed(fraction * 100, 0))% \(sizeText(done)) of \(sizeText(total)), \(fixed(rate(done, now), 0)) MiB/s"
        fputs(line, stderr)
        fflush(stderr)
    }

    func finish() {
        fputs("\r\u{1b}[K", stderr)
        fflush(stderr)
    }
}
