import MKFormat
import MKMemory

/// Where a disassembler reads code: the target's memory, so what it shows
/// is what ran (alternatives, static keys and return thunks patched),
/// never the vmlinux file.
public protocol CodeMemory: AnyObject {
    func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8]
}

extension KernelMemory: CodeMemory {}

/// Decodes instructions of one instruction set, in one flavor, from code
/// in memory. Reads are bounded (`maxBytes` a listing, page by page); a
/// byte sequence that does not decode gives `(bad)` and the decode goes on
/// past it as objdump does; memory that cannot be read where an instruction
/// starts (or ends) is a `DisassemblyError.unreadable` naming the address.
public final class Disassembler {
    public let instructionSet: InstructionSet
    public let flavor: DisassemblyFlavor
    private let engine: CapstoneEngine

    /// The most bytes one listing reads (a function or a range).
    public static let maxBytes = 1 << 20
    /// The most instructions one listing decodes.
    public static let maxInstructions = 1 << 18

    public init(instructionSet: InstructionSet, flavor: DisassemblyFlavor = .att) throws {
        self.instructionSet = instructionSet
        self.flavor = flavor
        engine = try CapstoneEngine(instructionSet, flavor: flavor)
    }

    /// The instructions of bytes already in hand, the first at `address`;
    /// the last may be `(bad)` when the bytes end inside an instruction.
    public func decode(_ bytes: [UInt8], at address: UInt64) -> [Instruction] {
        var out: [Instruction] = []
        var offset = 0
        while offset < bytes.count && out.count < Self.maxInstructions {
            let at = address &+ UInt64(offset)
            let rest = bytes[offset...]
            let insn = engine.decode(rest, address: at) ?? Instruction.bad(at: at, bytes: Array(rest.prefix(instructionSet.undecodableStep)))
            out.append(insn)
            offset += insn.bytes.count
        }
        return out
    }

    /// The instructions starting in [range.lowerBound, range.upperBound):
    /// the last may run past the end, as objdump's `--stop-address` lets it.
    public func disassemble(_ memory: CodeMemory, range: Range<UInt64>) throws -> [Instruction] {
        let length = range.upperBound - range.lowerBound
        guard length <= UInt64(Self.maxBytes) else {
            throw DisassemblyError.tooLarge(start: range.lowerBound, length: length, limit: Self.maxBytes)
        }
        var window = CodeWindow(memory: memory)
        var out: [Instruction] = []
        var pc = range.lowerBound
        while pc < range.upperBound && out.count < Self.maxInstructions {
            try Cancellation.check()
            let insn = try next(&window, at: pc)
            out.append(insn)
            guard insn.end > pc else { break }
            pc = insn.end
        }
        return out
    }

    /// `count` instructions from `start` (fewer at the top of the address space).
    public func disassemble(_ memory: CodeMemory, from start: UInt64, count: Int) throws -> [Instruction] {
        var window = CodeWindow(memory: memory)
        var out: [Instruction] = []
        var pc = start
        let wanted = min(max(count, 0), Self.maxInstructions)
        while out.count < wanted {
            try Cancellation.check()
            let insn = try next(&window, at: pc)
            out.append(insn)
            guard insn.end > pc, Int(insn.end - start) <= Self.maxBytes else { break }
            pc = insn.end
        }
        return out
    }

    /// The instruction at `pc`, reading at most one instruction's length ahead.
    private func next(_ window: inout CodeWindow, at pc: UInt64) throws -> Instruction {
        let longest = instructionSet.maxInstructionLength
        let (bytes, stop) = try window.read(pc, upTo: longest)
        if let insn = engine.decode(bytes[...], address: pc) { return insn }
        // Too few bytes to tell: the instruction runs into memory that cannot be read.
        if bytes.count < longest, let (address, reason) = stop {
            throw DisassemblyError.unreadable(address: address, reason: reason)
        }
        return Instruction.bad(at: pc, bytes: Array(bytes.prefix(instructionSet.undecodableStep)))
    }
}

/// Code read a page at a time and kept for the listing, with the first
/// page that could not be read.
struct CodeWindow {
    static let pageSize: UInt64 = 4096
    let memory: CodeMemory
    private var pages: [UInt64: [UInt8]] = [:]
    private var failed: [UInt64: String] = [:]

    init(memory: CodeMemory) { self.memory = memory }

    /// Up to `count` bytes from `address`, stopping at the first page that
    /// cannot be read (with its address and why). Throws when not even
    /// the byte at `address` can be read.
    mutating func read(_ address: UInt64, upTo count: Int) throws -> ([UInt8], stop: (UInt64, String)?) {
        var out: [UInt8] = []
        var at = address
        while out.count < count {
            let pageBase = at & ~(Self.pageSize - 1)
            guard let bytes = try page(pageBase) else {
                // Why, as a read of this very address says it (the page read names the page).
                let reason = failure(at) ?? failed[pageBase] ?? "not readable"
                if out.isEmpty { throw DisassemblyError.unreadable(address: at, reason: reason) }
                return (out, (at, reason))
            }
            let offset = Int(at - pageBase)
            let take = min(count - out.count, bytes.count - offset)
            out += bytes[offset..<(offset + take)]
            let (next, overflow) = at.addingReportingOverflow(UInt64(take))
            if overflow { break }
            at = next
        }
        return (out, nil)
    }

    private func failure(_ address: UInt64) -> String? {
        do {
            _ = try memory.readVirtual(address, count: 1)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private mutating func page(_ base: UInt64) throws -> [UInt8]? {
        if let p = pages[base] { return p }
        if failed[base] != nil { return nil }
        do {
            let bytes = try memory.readVirtual(base, count: Int(Self.pageSize))
            guard bytes.count == Int(Self.pageSize) else {
                failed[base] = "short read of \(bytes.count) bytes"
                return nil
            }
            pages[base] = bytes
            return bytes
        } catch let e as Interrupted {
            throw e
        } catch {
            failed[base] = "\(error)"
            return nil
        }
    }
}
