#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKSystem
import MKValues

/// Where command output goes by default: standard output, or a pager the
/// REPL installs.
public protocol OutputSink: AnyObject {
    func write(_ text: String)
}

public final class StandardOutput: OutputSink {
    public init() {}
    public func write(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }
}

/// Runs command lines the same way for `-e`, `-x`, `source`, standard
/// input and the REPL: comments, `source`, `shell`, output plumbing
/// (`| cmd`, `> file`, `>> file`), text or JSON Lines, and the count of
/// failures that decides the exit status.
public final class CommandRunner {
    public let session: Session
    public var json: Bool
    public var stopOnError: Bool
    public var output: OutputSink
    public var errorWriter: (String) -> Void = { fputs("mkdbg: \($0)\n", stderr) }
    public private(set) var failures = 0
    /// Set by `quit`.
    public private(set) var quitRequested = false
    private var sourceDepth = 0
    static let maxSourceDepth = 16

    public init(session: Session, json: Bool = false, stopOnError: Bool = false, output: OutputSink = StandardOutput()) {
        self.session = session
        self.json = json
        self.stopOnError = stopOnError
        self.output = output
    }

    /// Longest command line accepted: longer ones are refused before any
    /// other work (expressions have their own, smaller limit).
    public static let maxLineLength = 64 << 10
    /// Splits tried as `COMMAND > FILE` readings of an expression command.
    static let maxTriedSplits = 16

    /// Runs one line; returns false when it failed.
    @discardableResult
    public func run(_ line: String) -> Bool {
        let length = line.utf8.count
        if length > Self.maxLineLength {
            failures += 1
            let start = String(line.prefix(40))
            report(CommandError.outOfRange(value: UInt64(length), minimum: nil, maximum: UInt64(Self.maxLineLength), message: "command line is \(length) bytes; the limit is \(Self.maxLineLength) (it starts \"\(start)…\")"),
                   line: start, name: "")
            return false
        }
        let trimmed = line.trimmed()
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return true }
        let (plumbed, hint) = plumbing(trimmed)
        let name = plumbed.command.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        do {
            let result = try session.execute(plumbed.command)
            switch result.request {
            case .quit?:
                quitRequested = true
                return true
            case let .source(path)?:
                return try source(path)
            case .nothing?:
                return true
            case nil:
                break
            }
            // The sink opens only now: a command that failed writes no file.
            try emit(result, line: plumbed.command, name: session.spec(named: name)?.name ?? name, sink: plumbed.sink)
            return true
        } catch {
            failures += 1
            let failure: Error = hint.map { CommandError.failed("\(error)\n\($0)", cause: error) } ?? error
            report(failure, line: plumbed.command, name: session.spec(named: name)?.name ?? name)
            return false
        }
    }

    /// How to read a line: a command that takes an expression keeps `|`
    /// and `>` as C operators when the whole argument evaluates; otherwise
    /// the leftmost split whose command part is valid wins. A `> NAME`
    /// whose NAME reads as a C operand (`p a > b`) is not taken as a file
    /// when the comparison fails: the line runs as the expression, and the
    /// hint says how to name a file instead, so a typo never writes one.
    func plumbing(_ line: String) -> (PlumbedLine, hint: String?) {
        let bytes = Array(line.utf8)
        let splits = PlumbedLine.splits(bytes)
        guard let firstSplit = splits.first else { return (PlumbedLine(command: line, sink: .terminal), nil) }
        let first = firstSplit.plumbed(bytes)
        let args = try? CommandArguments(line: line)
        guard let name = args?.command, let spec = session.spec(named: name), spec.takesExpression else { return (first, nil) }
        // Text longer than the lexer takes cannot evaluate: not worth trying.
        let evaluates = { (text: String) in
            text.utf8.count <= Lexer.defaultMaxInputLength + 256 && self.session.argumentEvaluates(text)
        }
        if evaluates(line) { return (PlumbedLine(command: line, sink: .terminal), nil) }
        var ambiguous: (path: String, append: Bool)?
        for split in splits.prefix(Self.maxTriedSplits) {
            let candidate = split.plumbed(bytes)
            if case let .file(path, append) = candidate.sink, Self.readsAsOperand(path) {
                if ambiguous == nil { ambiguous = (path, append) }
                continue
            }
            if evaluates(candidate.command) { return (candidate, nil) }
        }
        if let (path, append) = ambiguous {
            let op = append ? ">>" : ">"
            let file = !path.contains(" ") && path.utf8.count <= 64 ? "; to write the output to a file, give a path: \(op) ./\(path)" : ""
            return (PlumbedLine(command: line, sink: .terminal),
                    "(\"\(op)\" was read as C's \(append ? "shift" : "comparison")\(file))")
        }
        return (first, nil)
    }

    /// A redirect target that could as well be the right side of `>`: a
    /// name, number, `$N`, a sign or other C punctuation, and no `/` or `.`
    /// as a path has (`p 1 >> -1` shifts; it does not append to a file "-1").
    static func readsAsOperand(_ target: String) -> Bool {
        guard !target.isEmpty else { return false }
        return target.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || "_$()[]*&!~<>+- ".utf8.contains(c)
        }
    }

    /// Runs lines in order; stops at the first failure with `stopOnError`,
    /// and after a Ctrl-C (in the REPL). Returns false when any line failed.
    @discardableResult
    public func run(lines: [String]) -> Bool {
        var ok = true
        for line in lines {
            if !run(line) {
                ok = false
                if stopOnError { break }
            }
            if quitRequested { break }
            if Cancellation.isRequested { ok = false; break }
        }
        return ok
    }

    public func source(_ path: String) throws -> Bool {
        guard sourceDepth < Self.maxSourceDepth else {
            throw CommandError.outOfRange(value: UInt64(sourceDepth + 1), minimum: nil, maximum: UInt64(Self.maxSourceDepth), message: "source: files nested more than \(Self.maxSourceDepth) deep (does \(path) source itself?)")
        }
        let text = try readTextFile(path)
        sourceDepth += 1
        defer { sourceDepth -= 1 }
        return run(lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
    }

    func emit(_ result: CommandOutput, line: String, name: String, sink: PlumbedLine.Sink) throws {
        var text: String
        if json {
            var common: [(String, JSONValue)] = [("command", .string(line)), ("name", .string(name)), ("ok", .bool(true))]
            // Output read from a running instance may be torn: say so.
            if session.isLive { common.append(("live", .bool(true))) }
            let object: JSONValue = .object(common + result.fields)
            text = object.serialized + "\n"
        } else {
            text = result.text
            if text.isEmpty { return }
            if result.endsLine && !text.hasSuffix("\n") { text += "\n" }
        }
        switch sink {
        case .terminal:
            output.write(text)
        case let .file(path, append):
            try writeFile(path, text, append: append)
        case let .pipe(command):
            fflush(stdout)
            guard let p = popen(command, "w") else {
                throw CommandError.exitStatus(command: command, status: nil, message: "cannot run \"\(command)\": \(Errno.currentReason)")
            }
            fputs(text, p)
            let status = pclose(p)
            if status != 0 && status != -1 && (status >> 8) != 141 {
                throw CommandError.exitStatus(command: command, status: status >> 8, message: "\"\(command)\" exited with status \(status >> 8)")
            }
        }
    }

    func report(_ error: Error, line: String, name: String) {
        if json {
            let object: JSONValue = .object([("command", .string(line)), ("name", .string(name)), ("ok", .bool(false)),
                                             ("error", ErrorReport(error).json)])
            output.write(object.serialized + "\n")
        } else {
            errorWriter("\(error)")
        }
    }
}

/// Reads a whole text file with a clear error, bounded to 64 MiB.
func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "r") else {
        throw CommandError.io(path: path, message: "\(path): cannot open: \(Errno.currentReason)")
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        bytes += buffer[0..<n]
        if bytes.count > 64 << 20 { throw CommandError.io(path: path, message: "\(path): larger than 64 MiB; not a command script") }
    }
    if ferror(f) != 0 { throw CommandError.io(path: path, message: "\(path): read error (is it a directory?)") }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes (or appends) text to a file; the error names the path and why.
func writeFile(_ path: String, _ text: String, append: Bool) throws {
    var st = stat()
    if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
        throw CommandError.io(path: path, message: "\(path): is a directory, expected a file to write")
    }
    guard let f = fopen(path, append ? "a" : "w") else {
        throw CommandError.io(path: path, message: "\(path): cannot write: \(Errno.currentReason)")
    }
    let ok = fputs(text, f) >= 0
    let closed = fclose(f) == 0
    if !ok || !closed { throw CommandError.io(path: path, message: "\(path): write failed: \(Errno.currentReason)") }
}
