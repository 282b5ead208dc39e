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
            throw CommandError.invalidArgument(f, message: "dump: the \(f) format is not supported; mkdbg writes raw binary (dump memory, dump physical, dump value)")
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
            throw CommandError.outOfRange(value: end, minimum: start &+ 1, maximum: nil, message: "\(label): END \(hex(end)) is not above START \(hex(start)); nothing to write")
        }
        let size = end - start
        guard size <= maxSize else {
            throw CommandError.outOfRange(value: size, minimum: 1, maximum: maxSize, message: "\(label): \(hex(start))-\(hex(end)) is \(sizeText(size)), more than the \(sizeText(maxSize)) a dump may write")
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
            guard let a = value.address else { throw CommandError.notInMemory(expression: text, message: "dump: \(role) \(text) is not in memory") }
            return a
        default:
            guard value.type.isScalar else {
                throw CommandError.wrongType(expression: text, type: "\(value.type)", message: "dump: cannot use \(text), of type \(value.type), as \(role)")
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
                throw CommandError.wrongType(expression: text, type: typeName, message: "dump value: \(text) has type \(typeName), whose size is unknown")
            }
            guard size > 0 else { throw CommandError.outOfRange(value: 0, minimum: 1, maximum: maxSize, message: "dump value: \(text) has size 0; nothing to write") }
            guard size <= maxSize else {
                throw CommandError.outOfRange(value: size, minimum: 1, maximum: maxSize, message: "dump value: \(text) is \(sizeText(size)), more than the \(sizeText(maxSize)) a dump may write")
            }
            guard checkedAdd(address, size) != nil else {
                throw CommandError.outOfRange(value: address, minimum: nil, maximum: 0 &- size, message: "dump value: \(text) at \(hex(address)) runs past the top of the address space")
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
        guard !bytes.isEmpty else { throw CommandError.outOfRange(value: 0, minimum: 1, maximum: maxSize, message: "dump value: \(text) has no bytes; nothing to write") }
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
                    throw CommandError.failed("\(label): \(e.unreadable(space: space)); nothing written to \(file)", cause: e)
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
