/// gdb's value history: `$1`, `$2`, …; `$` is the last, `$$` the one
/// before, `$$N` N back. As gdb's, an entry is a snapshot: a value in memory
/// is recorded with its bytes as they were read when it was printed (so `$1`
/// does not change when memory does, or when another target is current), and
/// keeps its address for `&$1`. One history per target (its evaluator's).
public struct ValueHistory {
    /// Bytes one entry keeps at most; a larger object keeps its start (what a print can show).
    public static let snapshotLimit = ValueLimits.maxRead

    public private(set) var values: [Value] = []

    public init() {}

    /// Records a value and returns its number. A value in memory is copied
    /// from `memory` first; when that copy cannot be read, the value is kept
    /// as it is (read again when used).
    public mutating func record(_ v: Value, memory: ValueMemory? = nil) -> Int {
        values.append(memory.flatMap { Self.snapshot(v, $0) } ?? v)
        return values.count
    }

    static func snapshot(_ v: Value, _ memory: ValueMemory) -> Value? {
        guard let address = v.address else { return nil }
        let count: Int
        if v.isBitfield {
            guard let span = try? v.load(memory) else { return nil }
            var s = Value(type: v.type, bytes: span)
            s.bitOffset = v.bitOffset
            s.bitSize = v.bitSize
            s.snapshotAddress = address
            return s
        }
        // Functions and incomplete types have no contents to copy.
        guard v.type.resolved.kind != .function, let size = v.type.byteSize else { return nil }
        count = Int(min(size, UInt64(Self.snapshotLimit)))
        guard let bytes = try? memory.readVirtual(address, count: count) else { return nil }
        var s = Value(type: v.type, bytes: bytes)
        s.snapshotAddress = address
        return s
    }

    public func lookup(_ ref: HistoryReference) -> Value? {
        switch ref {
        case let .absolute(n):
            guard n >= 1, n <= values.count else { return nil }
            return values[n - 1]
        case let .relative(back):
            let i = values.count - 1 - back
            guard i >= 0, i < values.count else { return nil }
            return values[i]
        }
    }
}
