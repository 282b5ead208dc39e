#if canImport(Glibc)
import Glibc
#endif

/// A position in one mapped DWARF section; every read checks the section's
/// end and throws `DwarfScanError` past it.
struct DwarfCursor {
    let base: UnsafePointer<UInt8>
    let count: Int
    let section: String
    var at: Int

    init(_ bytes: UnsafeRawBufferPointer, section: String, at: Int = 0) {
        // An empty section gets a one-byte dummy so `base` is never nil; count stays 0.
        self.base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? DwarfCursor.empty
        self.count = bytes.count
        self.section = section
        self.at = at
    }

    private static let empty: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    func fail(_ problem: String, at offset: Int? = nil) -> DwarfScanError {
        DwarfScanError(offset: offset ?? at, section: section, problem: problem)
    }

    var remaining: Int { count - at }

    @inline(__always)
    mutating func skip(_ n: Int) throws {
        guard n >= 0, n <= count - at else { throw fail("\(n) bytes needed, \(count - at) left") }
        at += n
    }

    @inline(__always)
    mutating func u8() throws -> UInt8 {
        guard at < count else { throw fail("1 byte needed, none left") }
        let v = base[at]
        at += 1
        return v
    }

    @inline(__always)
    mutating func fixed(_ n: Int) throws -> UInt64 {
        guard n <= count - at else { throw fail("\(n) bytes needed, \(count - at) left") }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(base[at + i]) << (8 * UInt64(i)) }
        at += n
        return v
    }

    @inline(__always)
    mutating func uleb() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard at < count else { throw fail("LEB128 runs past the end") }
            let b = base[at]
            at += 1
            if shift < 64 { result |= UInt64(b & 0x7f) << shift }
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 70 else { throw fail("LEB128 longer than 10 bytes") }
        }
    }

    @inline(__always)
    mutating func sleb() throws -> Int64 {
        var result: Int64 = 0
        var shift: Int64 = 0
        var b: UInt8 = 0
        repeat {
            guard at < count else { throw fail("LEB128 runs past the end") }
            b = base[at]
            at += 1
            if shift < 64 { result |= Int64(b & 0x7f) << shift }
            shift += 7
            guard shift < 77 else { throw fail("LEB128 longer than 10 bytes") }
        } while b & 0x80 != 0
        if shift < 64 && b & 0x40 != 0 { result |= -1 << shift }
        return result
    }

    /// Skips a NUL-terminated string; returns where it starts and its length.
    @inline(__always)
    mutating func cString() throws -> (start: Int, length: Int) {
        let start = at
        guard let n = Self.stringLength(base, count, start) else { throw fail("string without a terminating NUL") }
        at = start + n + 1
        return (start, n)
    }

    /// Length of the NUL-terminated string at `offset`, nil when it runs off the end.
    @inline(__always)
    static func stringLength(_ base: UnsafePointer<UInt8>, _ count: Int, _ offset: Int) -> Int? {
        guard offset >= 0, offset < count, let nul = memchr(base + offset, 0, count - offset) else { return nil }
        return UnsafeRawPointer(nul) - UnsafeRawPointer(base + offset)
    }
}
