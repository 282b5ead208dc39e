import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// One argument or local of a frame, with its value at the frame's pc.
public struct FrameVariable {
    public var name: String
    public var type: CType
    public var isArgument: Bool
    /// In memory (an lvalue), computed bytes (registers, pieces, stack
    /// values, constants), or `isOptimizedOut`.
    public var value: Value
    /// Why the value is optimized out, when more is known than "no location
    /// at this pc" (a register the frame did not save, no call site).
    public var unavailable: String?
    /// The location could not be evaluated (an unsupported operation, an
    /// unreadable piece): printed `<error: …>`.
    public var error: String?

    /// Where the value lives, for `--json`: memory, register, computed, optimized_out, error.
    public var storage: String {
        if error != nil { return "error" }
        if value.isOptimizedOut { return "optimized_out" }
        return value.address == nil ? "computed" : "memory"
    }
}

/// The arguments and locals of one backtrace frame: for an inline frame
/// the inlined function's own, for a real frame its function's; locals of
/// every lexical block holding the pc, innermost first.
public struct FrameVariables {
    public var frame: Int
    public var function: String?
    public var arguments: [FrameVariable] = []
    public var locals: [FrameVariable] = []
    /// Why there are none, or what was doubtful (the CFA's source).
    public var notes: [String] = []

    /// The variable a name means at the pc: block locals shadow the
    /// function's, innermost first.
    public func variable(named name: String) -> FrameVariable? {
        locals.first { $0.name == name } ?? arguments.first { $0.name == name }
    }
}

/// Reads frames' variables from DWARF location descriptions, evaluated
/// with the frame's registers, its CFA and the kernel's memory.
///
/// The CFA is the vmlinux's `.debug_frame` CFA rule at the frame's code
/// address, evaluated with the frame's registers: that is what
/// `DW_OP_call_frame_cfa` means, and it holds for frames whose caller was
/// found across a `pt_regs` or at the end of the stack, where the caller's
/// stack pointer is not the CFA. Only without a CFI row (module code,
/// assembly) does it fall back to the CFA the unwinder found stepping out of
/// the frame (ORC's), else to the caller's stack pointer after a plain
/// return (equal to the CFA on x86-64, which pushes just the return address).
public final class FrameVariableReader {
    let kernel: Kernel
    let kaslr: UInt64
    /// Call sites followed for one `DW_OP_entry_value` (each hop one caller up).
    static let maxEntryDepth = 4

    public init(kernel: Kernel) {
        self.kernel = kernel
        kaslr = kernel.target.symbols?.kaslrOffset ?? 0
    }

    private var debugInfo: DebugInfo? { kernel.dwarf }

    /// Where frame `i` sits among the frames sharing its physical frame.
    struct Placement {
        /// 0 for the innermost inlined level.
        var level: Int
        /// The real (out-of-line) frame holding it: its registers are the frame's.
        var real: Int
        /// The next physical frame, the caller.
        var caller: Int?
    }

    static func placement(_ frames: [BacktraceFrame], _ i: Int) -> Placement {
        let f = frames[i]
        func same(_ j: Int) -> Bool { frames[j].pc == f.pc && frames[j].sp == f.sp }
        var start = i
        while start > 0, frames[start - 1].isInline, same(start - 1) { start -= 1 }
        var real = i
        while frames[real].isInline, real + 1 < frames.count, same(real + 1) { real += 1 }
        return Placement(level: i - start, real: real, caller: real + 1 < frames.count ? real + 1 : nil)
    }

    /// The unrelocated code address a frame's pc stands for.
    func linkAddress(_ f: BacktraceFrame) -> UInt64 {
        (f.pcIsReturnAddress ? f.pc &- 1 : f.pc) &- kaslr
    }

    /// The frame's variables; with `named`, only those of that name (so a
    /// global's name costs no walk of the frame's other types).
    public func variables(of bt: Backtrace, frame i: Int, named: String? = nil) -> FrameVariables {
        var result = FrameVariables(frame: i)
        guard bt.frames.indices.contains(i) else {
            result.notes.append("no frame #\(i): the backtrace has \(bt.frames.count)")
            return result
        }
        let frames = bt.frames
        let f = frames[i]
        result.function = f.function
        if let module = f.module {
            result.notes.append("locals of module code (\(module)) are not read yet: only the vmlinux's DWARF is used")
            return result
        }
        guard let debugInfo else {
            result.notes.append("no locals without the vmlinux's DWARF (types come from BTF)")
            return result
        }
        let place = Self.placement(frames, i)
        let link = linkAddress(f)
        guard let scope = debugInfo.frameScope(linkAddress: link, level: place.level, named: named) else {
            result.notes.append("no DWARF function covers \(hex(f.pc))")
            return result
        }
        let (machine, cfaNote) = self.machine(frames, real: place.real, frameBase: scope.frameBase,
                                              callee: scope.realFunction, depth: 0)
        if let cfaNote { result.notes.append(cfaNote) }
        result.arguments = scope.arguments.map { variable($0, machine) }
        result.locals = scope.locals.map { variable($0, machine) }
        return result
    }

    /// The expression machine for the real frame `real`: its registers, CFA,
    /// evaluated frame base, and entry values through its caller's call site.
    func machine(_ frames: [BacktraceFrame], real: Int, frameBase: LocationDescription?, callee: String?,
                 depth: Int) -> (DwarfExpression, String?) {
        let f = frames[real]
        let place = Self.placement(frames, real)
        let regs = f.registers
        var m = DwarfExpression(registers: regs, memory: kernel.memory)
        m.relocation = kaslr
        var note: String?
        if let row = debugInfo?.callFrameRow(linkAddress: linkAddress(f), registers: []) {
            var e = DwarfExpression(registers: regs, memory: kernel.memory)
            do {
                m.cfa = try e.evaluate(row.cfa, initial: nil).0
            } catch {
                note = "the CFA at \(hex(f.pc)) is unknown: \(error)"
            }
        } else if let cfa = f.saved.cfa {
            m.cfa = cfa
            note = "no DWARF CFI at \(hex(f.pc)): the CFA is the one the unwinder found stepping out of the frame"
        } else if let c = place.caller, frames[c].pcIsReturnAddress {
            m.cfa = frames[c].sp
            note = "no DWARF CFI at \(hex(f.pc)): the CFA is the caller's stack pointer"
        }
        if case let .expression(ops)? = frameBase { m.frameBase = try? m.number(ops) }
        let caller = place.caller
        m.entryValue = { [unowned self] ops in
            try self.entryValue(ops, frames, caller: caller, callee: callee, depth: depth)
        }
        return (m, note)
    }

    /// The value `ops` (a lone register) had when the function was entered:
    /// the caller's call site says how to compute it in the caller's frame.
    func entryValue(_ ops: [DwarfOp], _ frames: [BacktraceFrame], caller: Int?, callee: String?,
                    depth: Int) throws -> UInt64 {
        typealias Unavailable = DwarfExpression.Unavailable
        guard depth < Self.maxEntryDepth else { throw Unavailable(what: "entry values nested deeper than \(Self.maxEntryDepth) calls") }
        guard let c = caller, frames[c].pcIsReturnAddress, frames[c].module == nil else {
            throw Unavailable(what: "the entry value needs the caller's call site, and the caller is not known")
        }
        guard ops.count == 1, let register = DebugInfo.registerNumber(ops[0]) else {
            throw Unavailable(what: "the entry value of something other than a register")
        }
        let ret = frames[c].pc &- kaslr
        guard let site = debugInfo?.callSite(returnLinkAddress: ret) else {
            throw Unavailable(what: "no DWARF call site at the caller's return address \(hex(frames[c].pc))")
        }
        if let called = site.callee, let callee, called != callee {
            throw Unavailable(what: "the call site at \(hex(frames[c].pc)) calls \(called), not \(callee)")
        }
        guard let parameter = site.parameters.first(where: { $0.register == register }),
              case let .expression(value) = parameter.value else {
            throw Unavailable(what: "the caller's call site does not say what DWARF register \(register) held")
        }
        let place = Self.placement(frames, c)
        let (m, _) = machine(frames, real: place.real, frameBase: site.frameBase,
                             callee: frames[place.real].function, depth: depth + 1)
        return try m.number(value)
    }

    func variable(_ info: FrameVariableInfo, _ machine: DwarfExpression) -> FrameVariable {
        var v = FrameVariable(name: info.name, type: info.type, isArgument: info.isArgument,
                              value: .optimizedOut(type: info.type))
        do {
            switch info.location {
            case .none:
                break
            case let .constant(bytes):
                v.value = Value(type: info.type, bytes: fit(bytes, info.type))
            case let .unreadable(why):
                v.error = "cannot read the location: \(why)"
            case let .expression(ops):
                v.value = try value(try machine.location(ops), type: info.type)
            }
        } catch let e as DwarfExpression.Unavailable {
            v.unavailable = e.what
        } catch {
            v.error = "\(error)"
        }
        return v
    }

    /// Bytes cut or zero-padded to the type's size (kept as they are when
    /// the size is unknown or absurd).
    func fit(_ bytes: [UInt8], _ type: CType) -> [UInt8] {
        guard let size = type.byteSize, size <= DwarfExpression.maxValueSize else { return bytes }
        let n = Int(size)
        return bytes.count >= n ? Array(bytes.prefix(n)) : bytes + [UInt8](repeating: 0, count: n - bytes.count)
    }

    func value(_ location: DwarfLocation, type: CType) throws -> Value {
        switch location {
        case let .simple(.memory(a)): return Value(type: type, address: a)
        case let .simple(.bytes(b)): return Value(type: type, bytes: fit(b, type))
        case .simple(.empty): return .optimizedOut(type: type)
        case let .composite(pieces):
            if pieces.allSatisfy({ $0.piece == .empty }) { return .optimizedOut(type: type) }
            var out: [UInt8] = []
            for (piece, size) in pieces {
                let n = Int(size) // bounded by the machine's maxValueSize
                switch piece {
                case let .memory(a): out += try kernel.memory.readVirtual(a, count: n)
                case let .bytes(b): out += b.count >= n ? Array(b.prefix(n)) : b + [UInt8](repeating: 0, count: n - b.count)
                // A missing piece reads as zeros, as drgn shows it.
                case .empty: out += [UInt8](repeating: 0, count: n)
                }
            }
            return Value(type: type, bytes: fit(out, type))
        }
    }
}
