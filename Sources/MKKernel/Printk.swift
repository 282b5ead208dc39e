import MKFormat
import MKMemory
import MKDebugInfo

/// The kernel log as read from memory: the records in sequence order, and
/// the problems met on the way (each names the descriptor it skipped).
public struct PrintkLog: Sendable {
    public var records: [PrintkRecord]
    public var warnings: [PrintkWarning]
    /// Descriptors in [tail, head] whose record had already been freed
    /// (state reusable): normal once the text ring has wrapped.
    public var reusableSkipped: Int
}

/// Reads the lockless printk ring buffer of Linux 5.10 and later.
///
/// `prb` points at a `struct printk_ringbuffer`: a descriptor ring
/// (`desc_ring`: `1 << count_bits` descriptors `descs[]` with their
/// `printk_info` in `infos[]`, live ids `tail_id`…`head_id`) and a text
/// data ring (`text_data_ring`: `1 << size_bits` bytes at `data`, live
/// logical positions `tail_lpos`…`head_lpos`). A descriptor's `state_var`
/// holds its id in the low bits and its state in the top two; its
/// `text_blk_lpos` gives the logical begin and next positions of its text
/// block, which starts with the descriptor's id. A block that would run
/// past the end of the data ring is stored at its start instead, `begin`
/// still pointing before the wrap. Positions with bit 0 set mean "no data".
///
/// Every value read from the dump is checked before use; a descriptor that
/// fails a check is skipped with a `PrintkWarning` and the walk goes on.
public enum Printk {
    /// Largest descriptor ring accepted: 2^24 descriptors.
    public static let maxCountBits: UInt64 = 24
    /// Largest text data ring accepted: 2^30 bytes.
    public static let maxSizeBits: UInt64 = 30
    /// Data rings up to this size are read in one piece.
    static let wholeDataRingLimit = 64 << 20

    /// Reads the log; each descriptor visited spends one step of `budget`,
    /// and warnings beyond the budget's are counted, not kept.
    public static func read(_ kernel: Kernel, budget: WalkBudget = WalkBudget()) throws -> PrintkLog {
        guard kernel.has(variable: "prb") else {
            if kernel.has(variable: "log_first_idx") {
                throw KernelError.unsupportedLayout(what: "struct printk_log", message: "unsupported kernel log format: this kernel (before 5.10) keeps its log in "
                                              + "log_buf as variable-length struct printk_log records, which mkdbg does not read yet")
            }
            throw KernelError.unsupportedLayout(what: "prb", message: "unsupported kernel log format: the kernel's debug info has neither prb "
                                          + "(the printk ring buffer of 5.10 and later) nor log_buf")
        }
        let layout = try PrintkLayout(kernel: kernel)
        let prb = try kernel.object("prb").deref()
        guard let prbAddress = prb.address, prbAddress != 0 else {
            throw KernelError.implausible(what: "prb", value: 0, address: nil, message: "prb is NULL: no printk ring buffer")
        }
        let countBits = try prb.path("desc_ring.count_bits").unsigned()
        let sizeBits = try prb.path("text_data_ring.size_bits").unsigned()
        guard countBits >= 1 && countBits <= maxCountBits else {
            throw KernelError.implausible(what: "desc_ring.count_bits", value: countBits, address: prbAddress, message: "printk ring buffer at \(hex(prbAddress)): desc_ring.count_bits is \(countBits); "
                                          + "expected 1 to \(maxCountBits)")
        }
        guard sizeBits >= 3 && sizeBits <= maxSizeBits else {
            throw KernelError.implausible(what: "text_data_ring.size_bits", value: sizeBits, address: prbAddress, message: "printk ring buffer at \(hex(prbAddress)): text_data_ring.size_bits is \(sizeBits); "
                                          + "expected 3 to \(maxSizeBits)")
        }
        var walk = Walk(kernel: kernel, layout: layout, budget: budget,
                        count: 1 << Int(countBits), sizeBits: Int(sizeBits),
                        descs: try prb.path("desc_ring.descs").unsigned(),
                        infos: try prb.path("desc_ring.infos").unsigned(),
                        data: try prb.path("text_data_ring.data").unsigned())
        return try walk.run(headId: try prb.path("desc_ring.head_id.counter").unsigned(),
                        tailId: try prb.path("desc_ring.tail_id.counter").unsigned(),
                        headLpos: try prb.path("text_data_ring.head_lpos.counter").unsigned(),
                        tailLpos: try prb.path("text_data_ring.tail_lpos.counter").unsigned())
    }

    /// One walk over the rings, from the tail id to the head id.
    struct Walk {
        let layout: PrintkLayout
        let memory: KernelMemory
        let budget: WalkBudget
        let count: Int
        let dataSize: Int
        let sizeBits: Int
        let dataAddress: UInt64
        let descs: ChunkedArrayReader
        let infos: ChunkedArrayReader
        /// Bits of an `unsigned long`: state_var, ids and positions.
        let valueBits: Int
        let valueMask: UInt64
        let idMask: UInt64
        var dataBytes: [UInt8]?
        var log = PrintkLog(records: [], warnings: [], reusableSkipped: 0)
        /// A run of consecutive descriptors skipped for the same reason (zeroed, or
        /// unreadable), not yet reported: one warning covers it.
        var run: (reason: String, index: Int, address: UInt64, firstId: UInt64, lastId: UInt64, count: Int)?

        init(kernel: Kernel, layout: PrintkLayout, budget: WalkBudget, count: Int, sizeBits: Int, descs: UInt64, infos: UInt64,
             data: UInt64) {
            self.layout = layout
            self.budget = budget
            memory = kernel.memory
            self.count = count
            self.sizeBits = sizeBits
            dataSize = 1 << sizeBits
            dataAddress = data
            self.descs = ChunkedArrayReader(memory: memory, base: descs, elementSize: layout.descSize, count: count)
            self.infos = ChunkedArrayReader(memory: memory, base: infos, elementSize: layout.infoSize, count: count)
            valueBits = layout.stateVar.size * 8
            valueMask = valueBits == 64 ? ~0 : (1 << UInt64(valueBits)) - 1
            idMask = (1 << UInt64(valueBits - 2)) - 1
        }

        /// Keeps a warning while the budget keeps warnings of its kind.
        mutating func keep(_ w: PrintkWarning, descriptor: Bool = false) {
            if budget.keepWarning(descriptor ? "printk descriptor" : "printk ring") { log.warnings.append(w) }
        }

        mutating func run(headId rawHead: UInt64, tailId rawTail: UInt64, headLpos: UInt64, tailLpos: UInt64) throws -> PrintkLog {
            let head = rawHead & idMask
            var tail = rawTail & idMask
            var n = Int(clamping: ((head &- tail) & idMask) &+ 1)
            if n > count {
                keep(PrintkWarning(message: "tail_id \(hex(rawTail)) and head_id \(hex(rawHead)) span \(n) ids, "
                                                  + "more than the \(count) descriptors; reading the last \(count)"))
                tail = (head &- UInt64(count) &+ 1) & idMask
                n = count
            }
            // The live text lies in [tail_lpos, head_lpos); beyond a ring's worth the positions are not trusted.
            let span = (headLpos &- tailLpos) & valueMask
            let liveText: (tail: UInt64, span: UInt64)?
            if span <= UInt64(dataSize) {
                liveText = (tailLpos & valueMask, span)
            } else {
                liveText = nil
                keep(PrintkWarning(message: "text_data_ring tail_lpos \(hex(tailLpos)) and head_lpos \(hex(headLpos)) "
                                                  + "are more than the ring's \(dataSize) bytes apart; not checking blocks against them"))
            }
            if dataSize <= wholeDataRingLimit {
                do {
                    dataBytes = try memory.readVirtual(dataAddress, count: dataSize)
                } catch {
                    keep(PrintkWarning(address: dataAddress, message: "cannot read the text data ring whole (\(error)); "
                                                      + "reading block by block"))
                }
            }
            for k in 0..<n {
                if k & 4095 == 0 { try Cancellation.check() }
                guard budget.take() else {
                    flushRun()
                    keep(PrintkWarning(message: "descriptor ring: " + budget.spentMessage(entries: k, reserve: 0)
                                       + "; \(n - k) more descriptors not read"))
                    break
                }
                record(id: (tail &+ UInt64(k)) & idMask, isTail: k == 0, liveText: liveText)
            }
            flushRun()
            return log
        }

        /// Adds descriptor `index` (expected to hold `id`) to the run of skipped ones for `reason`.
        mutating func skip(_ reason: String, index: Int, address: UInt64, id: UInt64) {
            if let r = run, r.reason == reason, (r.lastId &+ 1) & idMask == id {
                run = (reason, r.index, r.address, r.firstId, id, r.count + 1)
            } else {
                flushRun()
                run = (reason, index, address, id, id, 1)
            }
        }

        mutating func flushRun() {
            guard let r = run else { return }
            run = nil
            let message = r.count == 1
                ? "is \(r.reason), not holding id \(hex(r.firstId)); skipped"
                : "and the \(r.count - 1) descriptors after it are \(r.reason), not holding ids "
                    + "\(hex(r.firstId)) to \(hex(r.lastId)); skipped"
            keep(PrintkWarning(descriptorIndex: r.index, address: r.address, message: message), descriptor: true)
        }

        func stateName(_ s: UInt64) -> String {
            switch s {
            case layout.reserved: return "reserved"
            case layout.committed: return "committed"
            case layout.finalized: return "finalized"
            case layout.reusable: return "reusable"
            default: return "state \(s)"
            }
        }

        mutating func record(id: UInt64, isTail: Bool, liveText: (tail: UInt64, span: UInt64)?) {
            let index = Int(id & UInt64(count - 1))
            let descAddress = descs.address(of: index)
            func warn(_ message: String) {
                keep(PrintkWarning(descriptorIndex: index, address: descAddress, message: message), descriptor: true)
            }
            let l = layout
            let desc: (state: UInt64, begin: UInt64, next: UInt64)
            do {
                desc = try descs.withElement(index) {
                    (l.stateVar.load($0, base: 0), l.blockBegin.load($0, base: 0), l.blockNext.load($0, base: 0))
                }
            } catch {
                // The first error names the address; the run's warning gives it.
                skip(run.map(\.reason).flatMap { $0.hasPrefix("unreadable") ? $0 : nil } ?? "unreadable (\(error))",
                     index: index, address: descAddress, id: id)
                return
            }
            let heldId = desc.state & idMask
            let state = (desc.state & valueMask) >> UInt64(valueBits - 2)
            if desc.state == 0 && id != 0 {
                // Zeroed: never used, or wiped.
                skip("zeroed (state_var 0)", index: index, address: descAddress, id: id)
                return
            }
            flushRun()
            guard heldId == id else {
                warn("holds id \(hex(heldId)) (\(stateName(state))), not the expected \(hex(id)): "
                     + "overwritten or garbage (state_var \(hex(desc.state))); skipped")
                return
            }
            switch state {
            case l.committed, l.finalized:
                break
            case l.reusable:
                log.reusableSkipped += 1
                return
            case l.reserved:
                if !isTail { warn("record id \(hex(id)) was still being written (reserved) when the dump was taken; skipped") }
                return
            default:
                warn("unknown descriptor state \(state); skipped")
                return
            }

            let infoAddress = infos.address(of: index)
            struct Info { var seq, ts, textLength, facility, flags, level: UInt64; var caller: UInt64?; var subsystem, device: String }
            let info: Info
            do {
                info = try infos.withElement(index) { b in
                    Info(seq: l.seq.load(b, base: 0), ts: l.timestamp.load(b, base: 0), textLength: l.textLength.load(b, base: 0),
                         facility: l.facility.load(b, base: 0), flags: l.flags.load(b, base: 0), level: l.level.load(b, base: 0),
                         caller: l.callerId?.load(b, base: 0),
                         subsystem: l.subsystem?.string(b, base: 0) ?? "", device: l.device?.string(b, base: 0) ?? "")
                }
            } catch {
                warn("cannot read its printk_info at \(hex(infoAddress)): \(error)")
                return
            }
            // The kernel hands out sequence numbers so that seq ≡ index (mod count).
            guard info.seq & UInt64(count - 1) == UInt64(index) else {
                warn("its printk_info at \(hex(infoAddress)) has seq \(info.seq), which does not belong to this descriptor; skipped")
                return
            }
            guard info.textLength <= UInt64(dataSize) else {
                warn("record seq \(info.seq): text_len \(info.textLength) is beyond the \(dataSize)-byte data ring; skipped")
                return
            }
            guard let text = self.text(id: id, seq: info.seq, begin: desc.begin & valueMask, next: desc.next & valueMask,
                                       length: Int(info.textLength), liveText: liveText, warn: warn) else { return }
            log.records.append(PrintkRecord(
                seq: info.seq, timestampNanoseconds: info.ts, level: Int(info.level), facility: Int(info.facility),
                flags: Int(info.flags), isContinuation: info.flags & l.logCont != 0,
                caller: info.caller.map { PrintkCaller(rawValue: UInt32(truncatingIfNeeded: $0)) },
                textBytes: text, subsystem: info.subsystem, device: info.device, descriptorIndex: index))
        }

        /// The text of the block at [begin, next), or nil (with a warning) when the block is not usable.
        func text(id: UInt64, seq: UInt64, begin: UInt64, next: UInt64, length: Int,
                  liveText: (tail: UInt64, span: UInt64)?, warn: (String) -> Void) -> [UInt8]? {
            let what = "record seq \(seq): text block [\(hex(begin)), \(hex(next)))"
            if begin & 1 != 0 || next & 1 != 0 {
                // Data-less: an empty record, or one whose text could not be stored.
                if length == 0 { return [] }
                warn("\(what) holds no data but text_len is \(length): the text was lost; skipped")
                return nil
            }
            let alignment = UInt64(layout.blockIdSize)
            guard begin % alignment == 0, next % alignment == 0 else {
                warn("\(what) is not \(alignment)-byte aligned: garbage; skipped")
                return nil
            }
            let size = (next &- begin) & valueMask
            guard size >= UInt64(layout.blockDataOffset), size <= UInt64(dataSize) else {
                warn("\(what) spans \(size) bytes; a block holds \(layout.blockDataOffset) to \(dataSize); skipped")
                return nil
            }
            if let live = liveText {
                guard (begin &- live.tail) & valueMask <= live.span, (next &- live.tail) & valueMask <= live.span else {
                    warn("\(what) lies outside the live text [\(hex(live.tail)), \(hex((live.tail &+ live.span) & valueMask))): "
                         + "overwritten; skipped")
                    return nil
                }
            }
            let mask = UInt64(dataSize - 1)
            let beginWrap = begin >> UInt64(sizeBits), nextWrap = next >> UInt64(sizeBits)
            let wrapMask = valueMask >> UInt64(sizeBits)
            let start: Int, available: Int
            if beginWrap == nextWrap {
                start = Int(begin & mask)
                available = Int(size)
            } else if (beginWrap &+ 1) & wrapMask == nextWrap {
                if next & mask == 0 {
                    // Ends exactly at the end of the ring.
                    start = Int(begin & mask)
                    available = dataSize - start
                } else {
                    // Did not fit before the end: stored at the start of the ring.
                    start = 0
                    available = Int(next & mask)
                }
            } else {
                warn("\(what) crosses more than one wrap of the data ring; skipped")
                return nil
            }
            guard available >= layout.blockDataOffset else {
                warn("\(what) leaves \(available) bytes after the wrap, less than its id; skipped")
                return nil
            }
            let block: ArraySlice<UInt8>
            if let dataBytes {
                block = dataBytes[start..<(start + available)]
            } else {
                do {
                    block = ArraySlice(try memory.readVirtual(dataAddress &+ UInt64(start), count: available))
                } catch {
                    warn("\(what): cannot read it at \(hex(dataAddress &+ UInt64(start))): \(error)")
                    return nil
                }
            }
            var blockId: UInt64 = 0
            for i in stride(from: layout.blockIdSize - 1, through: 0, by: -1) {
                blockId = (blockId << 8) | UInt64(block[block.startIndex + i])
            }
            guard blockId & idMask == id else {
                warn("\(what) at \(hex(dataAddress &+ UInt64(start))) holds id \(hex(blockId)), not \(hex(id)): overwritten; skipped")
                return nil
            }
            let payload = available - layout.blockDataOffset
            let from = block.startIndex + layout.blockDataOffset
            if length > payload {
                warn("record seq \(seq): text_len \(length) is longer than its \(payload)-byte block; truncated")
                // The whole block, without its padding.
                var text = Array(block[from..<(from + payload)])
                while text.last == 0 { text.removeLast() }
                return text
            }
            return Array(block[from..<(from + length)])
        }
    }
}

extension Kernel {
    /// The kernel log (`dmesg`): see `Printk`.
    public func printkLog(budget: WalkBudget = WalkBudget()) throws -> PrintkLog { try Printk.read(self, budget: budget) }
}
