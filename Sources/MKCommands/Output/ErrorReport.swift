import MKFormat
import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel
import MKDisassembly

/// A failed command's error as `--json` reports it: a kind a program can
/// branch on, the message a person would read (the text output's), and
/// fields naming what failed (docs/json.md, "Errors").
struct ErrorReport {
    var kind: String
    var message: String
    var fields: [(String, JSONValue)] = []

    init(_ error: Error) {
        message = "\(error)"
        (kind, fields) = Self.classify(error)
    }

    var json: JSONValue { .object([("kind", .string(kind)), ("message", .string(message))] + fields) }

    static func classify(_ error: Error) -> (String, [(String, JSONValue)]) {
        switch error {
        case let e as CommandError:
            switch e {
            case let .usage(command, _, usage): return ("usage", [("command", .string(command)), ("usage", .string(usage))])
            case let .unknownCommand(name, suggestions):
                return ("unknown_command", [("name", .string(name)), ("suggestions", .array(suggestions.map { .string($0) }))])
            case .noTarget: return ("target_state", [])
            case .invalid: return ("invalid_argument", [])
            case let .unknownSymbol(name, _): return ("unknown_symbol", [("symbol", .string(name))])
            case let .unknownName(name, _): return ("unknown_name", [("name", .string(name))])
            case let .io(path, _): return ("io", [("path", .string(path))])
            case .unsupported: return ("unsupported_kernel", [])
            case let .failed(_, cause): return classify(cause)
            }
        case let e as MemoryError:
            return ("unreadable_memory", memoryFields(e))
        case let e as ExpressionError:
            return ("syntax", [("column", .int(Int64(min(e.column, Int(Int32.max)) + 1)))])
        case let e as EvaluationError:
            if let name = e.unknownSymbol { return ("unknown_symbol", [("symbol", .string(name))]) }
            return ("evaluation", e.range.map { [("column", .int(Int64($0.start + 1)))] } ?? [])
        case let e as DebugInfoError:
            if case let .unknownSymbol(name, _) = e { return ("unknown_symbol", [("symbol", .string(name))]) }
            return ("debug_info", [])
        case let e as KernelError:
            if case let .missingSymbol(name) = e { return ("unknown_symbol", [("symbol", .string(name))]) }
            return ("unsupported_kernel", [])
        case let e as MultikernelError:
            if case let .unknownInstance(name, _) = e { return ("unknown_name", [("name", .string(name))]) }
            return ("target_state", [])
        case let e as BacktraceError:
            switch e {
            case let .noSuchPID(pid): return ("unknown_name", [("name", .string(String(pid)))])
            case let .unreadableTask(address, _): return ("unreadable_memory", [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string("task"))])
            case .noCPU: return ("target_state", [])
            }
        case let e as DisassemblyError:
            if case let .unreadable(address, _) = e {
                return ("unreadable_memory", [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string("code"))])
            }
            return ("invalid_argument", [])
        case let e as FormatError:
            if e.kind == .io { return ("io", [("path", .string(e.file))]) }
            var fields: [(String, JSONValue)] = [("file", .string(e.file))]
            if let offset = e.offset { fields.append(("offset", jsonAddress(offset))) }
            return ("image_format", fields)
        case is Interrupted:
            return ("interrupted", [])
        default:
            return ("error", [])
        }
    }

    /// The address, the space it is in, and which step of reading it failed.
    static func memoryFields(_ e: MemoryError) -> [(String, JSONValue)] {
        switch e {
        case let .physicalNotPresent(address, _):
            return [("address", jsonAddress(address)), ("space", .string("physical")), ("level", .string("image"))]
        case let .pageExcluded(address, _):
            return [("address", jsonAddress(address)), ("space", .string("physical")), ("level", .string("excluded"))]
        case let .virtualNotMapped(address, reason):
            // The page-table walk names the entry that was not present first (`pmd entry 0x0 at …`).
            let first = String(reason.prefix { $0 != " " })
            let level = ["pml5", "pgd", "pud", "pmd", "pte"].contains(first) ? first : (reason.hasPrefix("not a canonical") ? "canonical" : "mapping")
            return [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string(level))]
        case let .corrupt(address, _):
            return [("address", jsonAddress(address)), ("space", .string("physical")), ("level", .string("corrupt"))]
        }
    }
}

/// The JSON line for a failure before any command ran (`mkdbg --json -c
/// FILE` that cannot open FILE): the same shape as a failed command's, with
/// `command` the command-line option and `name` `open`.
public func openFailureJSONLine(option: String, _ error: Error) -> String {
    let object: JSONValue = .object([("command", .string(option)), ("name", .string("open")), ("ok", .bool(false)),
                                     ("error", ErrorReport(error).json)])
    return object.serialized
}
