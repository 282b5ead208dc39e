import MKDebugInfo

/// A C struct carried in a ring slot's buffer (`struct mk_message`, a
/// payload struct, `struct mktty_message`, `struct virtio_vsock_hdr`):
/// where each field is and how to show it. Built from the kernel's DWARF or
/// from a layout file; decoding never reads past the bytes it is given.
public struct MessageStruct: Equatable {
    public enum Kind: String, Equatable {
        /// Little-endian integer of 1, 2, 4 or 8 bytes.
        case unsigned, signed
        /// A char array: text up to the first NUL.
        case chars
        /// Anything else: shown as hex bytes.
        case bytes
    }

    /// A field: where it is (`MemberLayout`, the field's name as its
    /// path) and how to show it.
    public struct Field: Equatable {
        public var layout: MemberLayout
        public var kind: Kind
        /// Names for the value: `"subtypes"` (the layout's message subtypes)
        /// or the name of one of the layout's `enums`.
        public var names: String?
        /// Shown in hex (flags, page frame numbers).
        public var hex: Bool

        public init(name: String, offset: Int, size: Int, kind: Kind, names: String? = nil, hex: Bool = false) {
            self.layout = MemberLayout(path: name, offset: offset, size: size, isSigned: kind == .signed)
            self.kind = kind
            self.names = names
            self.hex = hex
        }

        public var name: String { layout.path }
        public var offset: Int { layout.offset }
        public var size: Int { layout.size }
        public var end: Int { layout.end }
    }

    public var name: String
    public var size: Int
    public var fields: [Field]
    /// Where the variable part starts (`mk_message.payload[]`,
    /// `mktty_message.data`, the data after a vsock header) and its name.
    public var trailerName: String?
    public var trailerOffset: Int?

    public init(name: String, size: Int, fields: [Field], trailerName: String? = nil, trailerOffset: Int? = nil) {
        self.name = name
        self.size = size
        self.fields = fields
        self.trailerName = trailerName
        self.trailerOffset = trailerOffset
    }

    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }

    /// A decoded field value.
    public enum Value: Equatable {
        case unsigned(UInt64)
        case signed(Int64)
        case text(String)
        case bytes([UInt8])

        public var integer: UInt64? {
            switch self {
            case let .unsigned(u): return u
            case let .signed(s): return UInt64(bitPattern: s)
            default: return nil
            }
        }
    }

    /// Fields wholly inside `bytes` (a short payload decodes only what it holds).
    public func decode(_ bytes: ArraySlice<UInt8>) -> [(field: Field, value: Value)] {
        fields.compactMap { f in
            guard f.offset >= 0, f.size > 0, f.end <= bytes.count else { return nil }
            let start = bytes.startIndex + f.offset
            let raw = bytes[start..<(start + f.size)]
            return (f, Self.value(raw, kind: f.kind))
        }
    }

    static func value(_ raw: ArraySlice<UInt8>, kind: Kind) -> Value {
        switch kind {
        case .unsigned, .signed:
            guard [1, 2, 4, 8].contains(raw.count) else { return .bytes(Array(raw)) }
            let u = littleEndian(raw)
            if kind == .unsigned { return .unsigned(u) }
            let shift = UInt64(64 - raw.count * 8)
            return .signed(Int64(bitPattern: u << shift) >> Int64(shift))
        case .chars:
            return .text(String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
        case .bytes:
            return .bytes(Array(raw))
        }
    }
}

func littleEndian(_ raw: ArraySlice<UInt8>) -> UInt64 {
    var v: UInt64 = 0
    for (i, b) in raw.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
    return v
}
