/// One inbox ring (`struct mk_shared_data`) decoded from its bytes: head,
/// tail, the pending slots [tail, head) and, on request, the consumed slots
/// still in memory. Nothing in the bytes is trusted: indices out of range,
/// sizes over the buffer, unknown types and walks that would not end are
/// reported as problems and decoding goes on with what is sound.
public struct InboxRing {
    public enum State: String, Equatable {
        /// In [tail, head): waiting for the consumer.
        case pending
        /// Before tail: handled, its bytes still in memory.
        case consumed
        /// The ring's indices are broken, so whether it is pending is unknown.
        case unknown
    }

    public struct Slot {
        public var index: Int
        public var state: State
        /// `sender_cpu` (a physical CPU id; an `int` in the RFC era).
        public var senderCpu: Int64
        public var type: UInt64
        public var dataSize: UInt64
        public var message: DecodedMessage?
        public var problems: [String] = []

        /// `data_size` is set: the producer finished writing the slot.
        public var published: Bool { dataSize != 0 }
        public var consumed: Bool { state == .consumed }
    }

    public var layout: RingLayout
    public var head: Int64?
    public var tail: Int64?
    /// Slots in [tail, head); nil when the indices cannot be trusted.
    public var pendingCount: Int?
    /// Consumed slots (with `includeConsumed`) then pending ones, oldest first;
    /// with broken indices, every slot that holds anything, in index order.
    public var slots: [Slot] = []
    public var problems: [String] = []
    /// Facts worth a line (a claimed slot holding the consumer up, force_halt armed, ...).
    public var notes: [String] = []
    public var forceHalt: Int64?
    /// Ranks whose `parked[]` byte is set (newest era).
    public var parked: [Int] = []

    public static func parse(_ bytes: [UInt8], layout: RingLayout, includeConsumed: Bool = false,
                             instanceNames: [Int: String] = [:]) -> InboxRing {
        var ring = InboxRing(layout: layout)
        let n = layout.slotCount
        if bytes.count < layout.ringSize {
            ring.problems.append("only \(bytes.count) of the ring's \(layout.ringSize) bytes (layout \(layout.era)) were read")
        }
        ring.head = layout.head.read(bytes, base: 0)
        ring.tail = layout.tail.read(bytes, base: 0)
        ring.forceHalt = layout.forceHalt.flatMap { $0.read(bytes, base: 0) }
        if let f = ring.forceHalt, f != 0 { ring.notes.append("force_halt is armed (\(f)): the host is force-halting this kernel") }
        if let o = layout.parkedOffset, let s = layout.parkedSize, o + s <= bytes.count {
            ring.parked = (0..<s).filter { bytes[o + $0] != 0 }
            if !ring.parked.isEmpty { ring.notes.append("parked: CPU ranks " + ring.parked.map(String.init).joined(separator: ",")) }
        }

        func valid(_ v: Int64?) -> Bool { v.map { $0 >= 0 && $0 < Int64(n) } ?? false }
        for (name, v) in [("head", ring.head), ("tail", ring.tail)] where !valid(v) {
            ring.problems.append(v.map { v in
                "\(name) \(v) is outside 0..\(n - 1)" + (v >= 0 ? " (masked it would be \(v % Int64(n)); the kernel keeps it masked, so a walk from tail to it would never end)" : "")
            } ?? "\(name) cannot be read")
        }

        func slot(_ index: Int, _ state: State) -> Slot? {
            let base = layout.slotOffset(index)
            guard base + layout.slotSize <= bytes.count,
                  let sender = layout.senderCpu.read(bytes, base: base),
                  let type = layout.type.read(bytes, base: base),
                  let size = layout.dataSize.read(bytes, base: base) else { return nil }
            var s = Slot(index: index, state: state, senderCpu: sender,
                         type: UInt64(bitPattern: type) & mask(layout.type.size),
                         dataSize: UInt64(bitPattern: size) & mask(layout.dataSize.size))
            let bufferStart = base + layout.bufferOffset
            let buffer = bytes[bufferStart..<(bufferStart + layout.bufferSize)]
            if s.dataSize > UInt64(layout.bufferSize) {
                s.problems.append("data_size \(s.dataSize) exceeds the \(layout.bufferSize)-byte buffer: the consumer drops the slot; its contents are not decoded")
                if layout.slotType(s.type) == nil { s.problems.append("type \(hex(s.type)) is not a slot type layout \(layout.era) knows") }
                return s
            }
            if state == .pending && !s.published && layout.slotType(s.type) == nil {
                // Claimed, not yet published, not even typed yet: nothing to decode.
                if s.type != 0 { s.problems.append("type \(hex(s.type)) is not a slot type layout \(layout.era) knows") }
                return s
            }
            // A claimed slot is decoded too, from the lengths inside it: the
            // sender may still be writing it (its state says so).
            let sizeKnown = s.published
            let content = sizeKnown ? buffer.prefix(Int(s.dataSize)) : buffer
            let m = MessageDecoder.decode(type: s.type, bytes: content, sizeKnown: sizeKnown, layout: layout, instanceNames: instanceNames)
            s.message = m
            s.problems += m.problems
            return s
        }

        /// A slot outside [tail, head) that was ever written (a zeroed one never was).
        func used(_ index: Int) -> Bool {
            let base = layout.slotOffset(index)
            guard base + layout.slotSize <= bytes.count else { return false }
            return (layout.type.read(bytes, base: base) ?? 0) != 0 || (layout.dataSize.read(bytes, base: base) ?? 0) != 0
        }

        guard valid(ring.head), valid(ring.tail), let head = ring.head.map(Int.init), let tail = ring.tail.map(Int.init) else {
            ring.problems.append("which slots are pending cannot be told: the slots whose data_size is set follow"
                                 + (includeConsumed ? " (with every other slot that holds anything)" : "") + ", in index order, not trusted")
            for i in 0..<n where used(i) && (includeConsumed || (layout.dataSize.read(bytes, base: layout.slotOffset(i)) ?? 0) != 0) {
                if let s = slot(i, .unknown) { ring.slots.append(s) }
            }
            return ring
        }

        // Walk each part from where it starts; both walks are bounded by the
        // ring's size, so a broken index can never make them run on.
        func walk(from start: Int, to end: Int, _ body: (Int) -> Void) -> Bool {
            var i = start
            var steps = 0
            while i != end {
                if steps >= n { return false }
                body(i)
                i = (i + 1) % n
                steps += 1
            }
            return true
        }
        if includeConsumed {
            _ = walk(from: head, to: tail) { i in
                if used(i), let s = slot(i, .consumed) { ring.slots.append(s) }
            }
        }
        var pending: [Slot] = []
        var count = 0
        let ended = walk(from: tail, to: head) { i in
            count += 1
            if let s = slot(i, .pending) { pending.append(s) } else { ring.problems.append("pending slot \(i) lies beyond the bytes read") }
        }
        if !ended { ring.problems.append("the walk from tail \(tail) did not reach head \(head) within \(n) slots") }
        ring.pendingCount = count
        if let blocked = pending.first(where: { !$0.published }) {
            let after = pending.count - 1 - (pending.firstIndex { $0.index == blocked.index } ?? 0)
            ring.notes.append("slot \(blocked.index) is claimed but not published: the consumer stops there"
                              + (after > 0 ? " (\(after) slot\(after == 1 ? "" : "s") after it wait)" : ""))
        }
        if pending.count == n - 1 { ring.notes.append("the ring is full: senders get -ENOSPC") }
        ring.slots += pending
        return ring
    }

    static func mask(_ size: Int) -> UInt64 { size >= 8 ? ~0 : (UInt64(1) << UInt64(size * 8)) - 1 }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
}
