/// Bounds-checked integer loads from a byte array. Every load names what it
/// was reading when the bytes run out.
public struct ByteReader {
    public let bytes: [UInt8]
    public let file: String
    /// File offset of `bytes[0]`, so errors name real file positions.
    public let base: UInt64
    public var littleEndian: Bool

    public init(_ bytes: [UInt8], file: String, base: UInt64 = 0, littleEndian: Bool = true) {
        self.bytes = bytes
        self.file = file
        self.base = base
        self.littleEndian = littleEndian
    }

    @inline(__always)
    private func check(_ offset: Int, _ size: Int, _ what: String) throws {
        guard offset >= 0, size >= 0, offset <= bytes.count, bytes.count - offset >= size else {
            throw FormatError(.truncated, file: file, offset: base &+ UInt64(max(offset, 0)),
                              "expected \(what) (\(size) bytes) but the data ends")
        }
    }

    public func u8(_ offset: Int, _ what: String = "a byte") throws -> UInt8 {
        try check(offset, 1, what)
        return bytes[offset]
    }

    public func u16(_ offset: Int, _ what: String = "a 16-bit value") throws -> UInt16 {
        UInt16(truncatingIfNeeded: try load(offset, 2, what))
    }

    public func u32(_ offset: Int, _ what: String = "a 32-bit value") throws -> UInt32 {
        UInt32(truncatingIfNeeded: try load(offset, 4, what))
    }

    public func u64(_ offset: Int, _ what: String = "a 64-bit value") throws -> UInt64 {
        try load(offset, 8, what)
    }

    public func i64(_ offset: Int, _ what: String = "a 64-bit value") throws -> Int64 {
        Int64(bitPattern: try load(offset, 8, what))
    }

    public func slice(_ offset: Int, _ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        try check(offset, count, what)
        return bytes[offset..<(offset + count)]
    }

    /// A NUL-terminated (or field-bounded) string inside a fixed-size field.
    public func cString(_ offset: Int, maxLength: Int, _ what: String) throws -> String {
        let field = try slice(offset, maxLength, what)
        let text = field.prefix { $0 != 0 }
        return String(decoding: text, as: UTF8.self)
    }

    @inline(__always)
    private func load(_ offset: Int, _ size: Int, _ what: String) throws -> UInt64 {
        try check(offset, size, what)
        var v: UInt64 = 0
        if littleEndian {
            for i in stride(from: size - 1, through: 0, by: -1) { v = (v << 8) | UInt64(bytes[offset + i]) }
        } else {
            for i in 0..<size { v = (v << 8) | UInt64(bytes[offset + i]) }
        }
        return v
    }
}

extension Array where Element == UInt8 {
    /// Little-endian loads at offsets validated beforehand (the index and
    /// symbol files check every offset when they are opened).
    @inlinable
    public func validatedLE64(_ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in stride(from: 7, through: 0, by: -1) { v = v << 8 | UInt64(self[at + i]) }
        return v
    }

    @inlinable
    public func validatedLE32(_ at: Int) -> Int {
        Int(self[at]) | Int(self[at + 1]) << 8 | Int(self[at + 2]) << 16 | Int(self[at + 3]) << 24
    }

    /// Little-endian loads that return nil past the end.
    @inlinable
    public func loadLE32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= count - 4 else { return nil }
        return UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }

    @inlinable
    public func loadLE64(at offset: Int) -> UInt64? {
        guard offset >= 0, offset <= count - 8 else { return nil }
        var v: UInt64 = 0
        for i in stride(from: 7, through: 0, by: -1) { v = (v << 8) | UInt64(self[offset + i]) }
        return v
    }
}
