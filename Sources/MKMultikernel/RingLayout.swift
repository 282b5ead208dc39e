import MKDebugInfo

/// Where everything is in an inbox ring (`struct mk_shared_data`) of one
/// kernel era, and the tables that name what its slots carry: slot types,
/// message subtypes with their payload structs, and small enums. Comes
/// from the kernel's DWARF (`RingLayout.fromDebugInfo`) or from a layout
/// file in `symbols/layouts/` (`RingLayoutFile`).
public struct RingLayout {
    /// An integer in the ring or in a slot.
    public typealias Spot = MemberLayout

    /// How a slot type's buffer is decoded.
    public enum Decoding: String, Equatable {
        /// `struct mk_message` with a subtype and payload.
        case message = "mk_message"
        /// `struct mktty_message`: console text.
        case console = "mktty_message"
        /// Not decoded (known, but opaque).
        case raw
    }

    public struct SlotType: Equatable {
        public var value: UInt64
        public var name: String
        public var decoding: Decoding
    }

    public struct Subtype: Equatable {
        public var value: UInt64
        public var name: String
        /// Name of the payload struct in `structs`, if the payload has one.
        public var payload: String?
    }

    /// The era's name (`14213ee5`), or `dwarf` when read from DWARF.
    public var era: String
    /// Other names `--layout` accepts (`newest`).
    public var aliases: [String] = []
    /// Where the layout came from, for people: a file path or a vmlinux.
    public var source: String
    public var summary: String = ""
    /// Later eras have larger ranks; the largest is the default.
    public var rank: Int = 0

    public var ringSize: Int
    public var slotCount: Int
    public var head: Spot
    public var tail: Spot
    public var entriesOffset: Int
    public var slotSize: Int
    public var senderCpu: Spot
    public var type: Spot
    public var dataSize: Spot
    public var bufferOffset: Int
    public var bufferSize: Int
    public var forceHalt: Spot?
    public var parkedOffset: Int?
    public var parkedSize: Int?

    public var structs: [String: MessageStruct] = [:]
    public var slotTypes: [SlotType] = []
    public var subtypes: [Subtype] = []
    /// Small value → name tables (`mkty_type`, `vsock_op`, ...).
    public var enums: [String: [UInt64: String]] = [:]

    public init(era: String, source: String, ringSize: Int, slotCount: Int, head: Spot, tail: Spot,
                entriesOffset: Int, slotSize: Int, senderCpu: Spot, type: Spot, dataSize: Spot,
                bufferOffset: Int, bufferSize: Int) {
        self.era = era
        self.source = source
        self.ringSize = ringSize
        self.slotCount = slotCount
        self.head = head
        self.tail = tail
        self.entriesOffset = entriesOffset
        self.slotSize = slotSize
        self.senderCpu = senderCpu
        self.type = type
        self.dataSize = dataSize
        self.bufferOffset = bufferOffset
        self.bufferSize = bufferSize
    }

    public func slotType(_ value: UInt64) -> SlotType? { slotTypes.first { $0.value == value } }
    public func subtype(_ value: UInt64) -> Subtype? { subtypes.first { $0.value == value } }

    /// The name a field's value has in the table it refers to.
    public func name(of value: UInt64, in table: String) -> String? {
        if table == "subtypes" { return subtype(value)?.name ?? slotType(value)?.name }
        return enums[table]?[value]
    }

    /// Offset of slot `index` from the start of the ring.
    public func slotOffset(_ index: Int) -> Int { entriesOffset + index * slotSize }

    /// The layout's own consistency: everything inside what contains it.
    /// Returns the problems (empty when sound).
    public func problems() -> [String] {
        var p: [String] = []
        if slotCount <= 0 || slotCount > 1 << 16 { p.append("slot count \(slotCount) is not plausible") }
        if slotSize <= 0 { p.append("slot size \(slotSize) is not positive") }
        if entriesOffset < 0 || entriesOffset + slotCount * max(slotSize, 0) > ringSize {
            p.append("\(slotCount) slots of \(slotSize) bytes from offset \(entriesOffset) do not fit the \(ringSize)-byte ring")
        }
        for (name, s) in [("head", head), ("tail", tail)] where s.offset < 0 || s.end > entriesOffset || ![4, 8].contains(s.size) {
            p.append("\(name) (offset \(s.offset), \(s.size) bytes) is not a 4- or 8-byte index before the slots")
        }
        for (name, s) in [("sender_cpu", senderCpu), ("type", type), ("data_size", dataSize)]
        where s.offset < 0 || s.end > slotSize || ![1, 2, 4, 8].contains(s.size) {
            p.append("slot field \(name) (offset \(s.offset), \(s.size) bytes) is not an integer inside the \(slotSize)-byte slot")
        }
        if bufferOffset < 0 || bufferSize <= 0 || bufferOffset + bufferSize > slotSize {
            p.append("the buffer (offset \(bufferOffset), \(bufferSize) bytes) is not inside the \(slotSize)-byte slot")
        }
        if let f = forceHalt, f.offset < entriesOffset + slotCount * slotSize || f.end > ringSize {
            p.append("force_halt (offset \(f.offset)) is not after the slots inside the ring")
        }
        if let o = parkedOffset, let s = parkedSize, o < 0 || o + s > ringSize {
            p.append("parked (offset \(o), \(s) bytes) is not inside the ring")
        }
        for st in structs.values {
            for f in st.fields where f.offset < 0 || f.size <= 0 || f.end > st.size {
                p.append("struct \(st.name): field \(f.name) (offset \(f.offset), \(f.size) bytes) is not inside its \(st.size) bytes")
            }
        }
        for t in slotTypes where t.decoding != .raw && structs[t.decoding.rawValue] == nil {
            p.append("slot type \(t.name) decodes as \(t.decoding.rawValue), which the layout does not describe")
        }
        for s in subtypes {
            if let name = s.payload, structs[name] == nil {
                p.append("subtype \(s.name) has payload \(name), which the layout does not describe")
            }
        }
        return p
    }
}

extension MemberLayout {
    /// A ring or slot integer (the ring's fields go by their offsets alone).
    public init(offset: Int, size: Int, signed: Bool = false) {
        self.init(path: "", offset: offset, size: size, isSigned: signed)
    }

    public var signed: Bool { isSigned }

    /// The value in `bytes` at `base + offset` (sign-extended when signed).
    func read(_ bytes: [UInt8], base: Int) -> Int64? {
        guard [1, 2, 4, 8].contains(size) else { return nil }
        return bytes.withUnsafeBytes { value(in: $0, base: base) }.map { Int64(bitPattern: $0) }
    }
}
