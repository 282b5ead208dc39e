#if canImport(Glibc)
import Glibc
#endif

/// The files a terminating signal writes one byte to, kept where a signal
/// handler can read them: two tables of fixed C-string slots, allocated once
/// and never freed. `publish` fills the table not in use, then switches the
/// active index with one store, so a handler sees the old list or the new
/// one, never a half-built or freed one.
final class TerminationTable: @unchecked Sendable {
    static let capacity = 64
    static let slotSize = Int(PATH_MAX)
    static let shared = TerminationTable()

    /// `2 * capacity` slots of `slotSize` bytes.
    private let slots: UnsafeMutablePointer<CChar>
    /// Entries in each table.
    private let counts: UnsafeMutablePointer<sig_atomic_t>
    /// The table handlers read (0 or 1), and the byte they write.
    private let active: UnsafeMutablePointer<sig_atomic_t>
    private let byte: UnsafeMutablePointer<UInt8>
    private let lock = Mutex()
    var installed = false

    private init() {
        slots = .allocate(capacity: 2 * Self.capacity * Self.slotSize)
        slots.initialize(repeating: 0, count: 2 * Self.capacity * Self.slotSize)
        counts = .allocate(capacity: 2)
        counts.initialize(repeating: 0, count: 2)
        active = .allocate(capacity: 1)
        active.initialize(to: 0)
        byte = .allocate(capacity: 1)
        byte.initialize(to: UInt8(ascii: "0"))
    }

    private func slot(_ table: Int, _ i: Int) -> UnsafeMutablePointer<CChar> {
        slots + (table * Self.capacity + i) * Self.slotSize
    }

    func publish(_ paths: [String], byte value: UInt8) {
        lock.withLock {
            let next = 1 - Int(active.pointee)
            var n = 0
            for path in paths where n < Self.capacity {
                let utf8 = Array(path.utf8)
                guard !utf8.isEmpty, utf8.count < Self.slotSize, !utf8.contains(0) else { continue }
                let p = slot(next, n)
                for (k, c) in utf8.enumerated() { p[k] = CChar(bitPattern: c) }
                p[utf8.count] = 0
                n += 1
            }
            counts[next] = sig_atomic_t(n)
            byte.pointee = value
            active.pointee = sig_atomic_t(next)
        }
    }

    /// Async-signal-safe: reads the active table, opens and writes each file.
    func writeFromHandler() {
        let table = Int(active.pointee)
        let n = Int(counts[table])
        for i in 0..<min(n, Self.capacity) {
            let fd = open(slot(table, i), O_WRONLY)
            if fd >= 0 {
                _ = write(fd, byte, 1)
                close(fd)
            }
        }
    }
}
