import MKSystem
import MKFormat
import MKMemory
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
        case let e as CommandError: return command(e)
        case let e as MemoryError:
            return ("unreadable_memory", memoryFields(e))
        case let e as ExpressionError:
            return ("syntax", [("column", .int(Int64(min(e.column, Int(Int32.max)) + 1)))])
        case let e as EvaluationError:
            if let name = e.unknownSymbol { return ("unknown_symbol", [("symbol", .string(name))]) }
            return ("evaluation", e.range.map { [("column", .int(Int64($0.start + 1)))] } ?? [])
        case let e as ValueError: return value(e)
        case let e as DebugInfoError:
            switch e {
            case let .unknownSymbol(name, _): return ("unknown_symbol", [("symbol", .string(name))])
            case let .cannotOpen(path, _), let .notElf(path), let .noSymbols(path), let .mismatch(path, _):
                return ("debug_info", [("path", .string(path))])
            case .notFound: return ("debug_info", [])
            }
        case let e as TargetError:
            switch e { case .noSymbols: return ("debug_info", []) }
        case let e as IndexFileError: return ("debug_info", [("path", .string(e.path))])
        case let e as KernelError: return kernel(e)
        case let e as MemberPathError:
            switch e { case let .missingMember(t, m): return ("unsupported_kernel", [("what", .string("\(t).\(m)"))]) }
        case let e as OrcError:
            switch e {
            case let .missing(what): return ("unsupported_kernel", [("what", .string(what))])
            case let .malformed(what): return ("bad_kernel_data", [("what", .string(what))])
            }
        case let e as LayoutError:
            switch e {
            case let .unsupportedMachine(machine, _):
                return ("unsupported_architecture", [("machine", .int(Int64(machine))), ("architecture", ElfMachine.name(machine).map { .string($0) } ?? .null)])
            case let .missingKey(_, image), let .inconsistent(_, image): return ("image_format", [("file", .string(image))])
            case .noVmcoreInfo: return ("target_state", [])
            }
        case let e as MultikernelError: return multikernel(e)
        case let e as BacktraceError:
            switch e {
            case let .noSuchPID(pid): return ("unknown_name", [("name", .string(String(pid)))])
            case let .unreadableTask(address, _): return ("unreadable_memory", [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string("task"))])
            case let .noCPU(cpu): return ("target_state", [("cpu", .int(Int64(cpu)))])
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
        case let e as Errno:
            return ("io", e.path.map { [("path", .string($0))] } ?? [])
        case is Interrupted:
            return ("interrupted", [])
        default:
            return ("error", [])
        }
    }

    static func command(_ e: CommandError) -> (String, [(String, JSONValue)]) {
        switch e {
        case let .usage(command, _, usage): return ("usage", [("command", .string(command)), ("usage", .string(usage))])
        case let .unknownCommand(name, suggestions):
            return ("unknown_command", [("name", .string(name)), ("suggestions", .array(suggestions.map { .string($0) }))])
        case .noTarget: return ("target_state", [])
        case let .invalidArgument(argument, _): return ("invalid_argument", [("argument", .string(argument))])
        case let .outOfRange(value, minimum, maximum, _): return ("out_of_range", range(value, minimum, maximum))
        case let .notInMemory(expression, _): return ("not_in_memory", [("expression", .string(expression))])
        case let .wrongType(expression, type, _): return ("wrong_type", [("expression", .string(expression)), ("type", .string(type))])
        case let .syntax(column, _): return ("syntax", [("column", .int(Int64(column) + 1))])
        case let .unknownSymbol(name, _): return ("unknown_symbol", [("symbol", .string(name))])
        case let .unknownName(name, _): return ("unknown_name", [("name", .string(name))])
        case .noDebugInfo: return ("debug_info", [])
        case let .io(path, _): return ("io", [("path", .string(path))])
        case .targetState: return ("target_state", [])
        case let .exitStatus(command, status, _):
            return ("exit_status", [("command", .string(command)), ("status", status.map { .int(Int64($0)) } ?? .null)])
        case let .failed(_, cause): return classify(cause)
        }
    }

    static func kernel(_ e: KernelError) -> (String, [(String, JSONValue)]) {
        switch e {
        case let .missingSymbol(name): return ("unknown_symbol", [("symbol", .string(name))])
        case let .missingType(t): return ("unsupported_kernel", [("what", .string(t))])
        case let .missingMember(t, m): return ("unsupported_kernel", [("what", .string("\(t).\(m)"))])
        case let .unsupportedLayout(what, _): return ("unsupported_kernel", [("what", .string(what))])
        case let .implausible(what, value, address, _):
            var fields: [(String, JSONValue)] = [("what", .string(what))]
            if let value { fields.append(("value", .uint(value))) }
            if let address { fields.append(("address", jsonAddress(address))) }
            return ("bad_kernel_data", fields)
        case let .notInMemory(what, _): return ("not_in_memory", [("expression", .string(what))])
        case let .wrongType(type, _): return ("wrong_type", [("type", .string(type))])
        case let .outOfRange(value, maximum, _): return ("out_of_range", range(value, 0, maximum))
        case let .notPerCPU(name): return ("invalid_argument", [("argument", .string(name))])
        case let .unsupportedArchitecture(machine, name, _):
            return ("unsupported_architecture", [("machine", .int(Int64(machine))), ("architecture", name.map { .string($0) } ?? .null)])
        }
    }

    static func value(_ e: ValueError) -> (String, [(String, JSONValue)]) {
        switch e {
        case let .notAddressable(what): return ("not_in_memory", [("expression", .string(what))])
        case let .tooLarge(_, size): return ("out_of_range", range(size, nil, UInt64(ValueLimits.maxRead)))
        case let .incomplete(type), let .sizeOverflows(type), let .badBitfield(type, _, _): return ("wrong_type", [("type", .string(type))])
        case .outside: return ("evaluation", [])
        case .optimizedOut: return ("optimized_out", [])
        }
    }

    static func multikernel(_ e: MultikernelError) -> (String, [(String, JSONValue)]) {
        switch e {
        case let .unknownInstance(name, _): return ("unknown_name", [("name", .string(name))])
        case let .missingFile(path, _), let .writeFailed(path, _), let .readFailed(path, _): return ("io", [("path", .string(path))])
        case let .badFormat(path, _): return ("image_format", [("file", .string(path))])
        case let .notMounted(path): return ("target_state", [("path", .string(path))])
        case let .noKernel(name, _), let .freezeTimeout(name, _), let .frozenByOther(name): return ("target_state", [("instance", .string(name))])
        }
    }

    /// `value` and the bounds it had to be within, those that are known.
    static func range(_ value: UInt64?, _ minimum: UInt64?, _ maximum: UInt64?) -> [(String, JSONValue)] {
        [("value", value), ("minimum", minimum), ("maximum", maximum)].compactMap { name, v in v.map { (name, .uint($0)) } }
    }

    /// The address, the space it is in, and which step of reading it failed.
    static func memoryFields(_ e: MemoryError) -> [(String, JSONValue)] {
        switch e {
        case let .physicalNotPresent(address, _):
            return [("address", jsonAddress(address)), ("space", .string("physical")), ("level", .string("image"))]
        case let .pageExcluded(address, _):
            return [("address", jsonAddress(address)), ("space", .string("physical")), ("level", .string("excluded"))]
        case let .virtualNotMapped(address, _):
            return [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string("mapping"))]
        case let .pageNotPresent(address, level, entry, entryAddress):
            return [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string(level)),
                    ("entry", jsonAddress(entry)), ("entry_address", jsonAddress(entryAddress))]
        case let .notCanonical(address, _):
            return [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", .string("canonical"))]
        case let .mappedUnreadable(address, method, physical):
            // The level is the physical read's (image, excluded, corrupt); the physical address is named too.
            let inner = memoryFields(physical)
            let level = inner.first { $0.0 == "level" }?.1 ?? .string("image")
            let pa = inner.first { $0.0 == "address" }?.1 ?? .null
            return [("address", jsonAddress(address)), ("space", .string("virtual")), ("level", level),
                    ("via", .string(method)), ("physical_address", pa)]
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
