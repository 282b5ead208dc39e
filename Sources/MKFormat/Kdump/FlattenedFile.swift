/// makedumpfile's flattened stream (what `makedumpfile -F` and QEMU's
/// `dump-guest-memory -z`-to-a-pipe formats write), read in place.
///
/// Layout (all integers big-endian):
///
///     0     header, 4096 bytes: signature "makedumpfile" NUL-padded to 16,
///           type i64 (1 = flattened), version i64 (1), then zeros
///     4096  records: { offset i64, size i64 } then `size` bytes that belong
///           at logical `offset` of the dump being flattened
///     ...   a record with offset -1 ends the stream
///
/// Records come in any order and may overlap; a later record overwrites an
/// earlier one (makedumpfile writes the dump header first provisionally and
/// again at the end). The records are indexed once into sorted, disjoint
/// segments; reads go straight to the bytes in the file. Logical bytes no
/// record covers read as zeros (they are holes in the reassembled file).
public final class FlattenedFile: @unchecked Sendable {
    public static let signature = "makedumpfile"
    public static let headerSize: UInt64 = 4096
    /// `type` of a flattened stream (TYPE_FLAT_HEADER).
    public static let typeFlattened: Int64 = 1
    /// Record offset that ends the stream (END_FLAG_FLAT_HEADER).
    public static let endMarker: Int64 = -1

    /// A run of logical bytes served by one place in the flattened file.
    struct Segment {
        var start: UInt64
        var size: UInt64
        var fileOffset: UInt64
        var end: UInt64 { start + size }
    }

    public let source: FileSource
    public var path: String { source.path }
    /// Size of the reassembled file: the end of the furthest record.
    public let logicalSize: UInt64
    public let type: Int64
    public let version: Int64
    /// Records holding data (zero-size records are not counted).
    public let recordCount: Int
    /// Whether the stream ended with the offset -1 marker; a stream without
    /// it was cut short after a whole record.
    public let hasEndMarker: Bool
    /// Records partly or wholly overwritten by later ones.
    public let overwrittenRecords: Int
    let segments: [Segment]

    public init(source: FileSource) throws {
        self.source = source
        let path = source.path
        guard source.size >= Self.headerSize else {
            throw FormatError(.truncated, file: path, offset: 0,
                              "expected a flattened makedumpfile header (\(Self.headerSize) bytes) but the file is only \(source.size) bytes")
        }
        let head = try source.read(at: 0, count: 32)
        guard head.starts(with: Array(Self.signature.utf8)) else {
            throw FormatError(.badMagic, file: path, offset: 0, "expected the flattened-dump signature \"makedumpfile\"")
        }
        let r = ByteReader(head, file: path, littleEndian: false)
        type = try r.i64(16, "flattened header type")
        version = try r.i64(24, "flattened header version")
        guard type == Self.typeFlattened else {
            throw FormatError(.unsupported, file: path, offset: 16,
                              "flattened header type is \(type), expected \(Self.typeFlattened) (TYPE_FLAT_HEADER)")
        }

        // Scan the record headers through a window so that streams of many
        // small records cost one read per window rather than one per record.
        var window = ReadWindow(source: source)
        var records: [Segment] = []
        var position = Self.headerSize
        var ended = false
        while position < source.size {
            guard source.size - position >= 16 else {
                throw FormatError(.truncated, file: path, offset: position,
                                  "expected a flattened record header (16 bytes) but the file ends \(source.size - position) bytes later")
            }
            let (offset, size) = try window.recordHeader(at: position)
            if offset == Self.endMarker {
                ended = true
                break
            }
            guard offset >= 0, size >= 0 else {
                throw FormatError(.corrupt, file: path, offset: position,
                                  "flattened record claims offset \(offset) and size \(size); neither may be negative")
            }
            let dataStart = position + 16
            let available = source.size - dataStart
            guard UInt64(size) <= available else {
                throw FormatError(.truncated, file: path, offset: position,
                                  "flattened record for logical offset \(hex(offset)) claims \(size) bytes of data but only \(available) remain in the file")
            }
            guard checkedAdd(UInt64(offset), UInt64(size)) != nil else {
                throw FormatError(.corrupt, file: path, offset: position,
                                  "flattened record at logical offset \(hex(offset)) with size \(size) runs past the largest offset")
            }
            if size > 0 {
                records.append(Segment(start: UInt64(offset), size: UInt64(size), fileOffset: dataStart))
            }
            position = dataStart + UInt64(size)
        }
        hasEndMarker = ended
        recordCount = records.count
        let (segments, overwritten) = Self.resolve(records)
        self.segments = segments
        overwrittenRecords = overwritten
        logicalSize = segments.last?.end ?? 0
    }

    /// Turns records in stream order into sorted, disjoint segments where a
    /// later record wins over an earlier one. O(n log n).
    static func resolve(_ records: [Segment]) -> ([Segment], Int) {
        // Common case: no two records overlap.
        let order = records.indices.sorted {
            records[$0].start != records[$1].start ? records[$0].start < records[$1].start : $0 < $1
        }
        var overlapping = false
        var reach: UInt64 = 0
        for (n, i) in order.enumerated() {
            if n > 0 && records[i].start < reach { overlapping = true; break }
            reach = records[i].end
        }
        if !overlapping { return (order.map { records[$0] }, 0) }

        // Sweep over the record boundaries keeping the open records in a
        // max-heap by stream position; between two boundaries the newest
        // open record supplies the bytes.
        var events: [(position: UInt64, record: Int, opens: Bool)] = []
        events.reserveCapacity(records.count * 2)
        for (i, r) in records.enumerated() {
            events.append((r.start, i, true))
            events.append((r.end, i, false))
        }
        events.sort { $0.position < $1.position }
        var heap = MaxHeap()
        var closed = [Bool](repeating: false, count: records.count)
        var contributed = [UInt64](repeating: 0, count: records.count)
        var result: [Segment] = []
        var previous: UInt64 = 0
        var e = 0
        while e < events.count {
            let here = events[e].position
            if let top = heap.top, here > previous {
                let r = records[top]
                let piece = Segment(start: previous, size: here - previous, fileOffset: r.fileOffset + (previous - r.start))
                contributed[top] += piece.size
                if let last = result.last, last.end == piece.start, last.fileOffset + last.size == piece.fileOffset {
                    result[result.count - 1].size += piece.size
                } else {
                    result.append(piece)
                }
            }
            while e < events.count && events[e].position == here {
                if events[e].opens { heap.push(events[e].record) } else { closed[events[e].record] = true }
                e += 1
            }
            while let top = heap.top, closed[top] { heap.pop() }
            previous = here
        }
        let overwritten = records.indices.filter { contributed[$0] < records[$0].size }.count
        return (result, overwritten)
    }

    /// Reads `buffer.count` bytes of the reassembled file at logical `offset`.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard buffer.count > 0 else { return }
        guard let end = checkedAdd(offset, UInt64(buffer.count)), end <= logicalSize else {
            throw FormatError(.truncated, file: path, offset: offset,
                              "reassembled flattened dump ends at logical offset \(hex(logicalSize)); \(buffer.count) bytes at logical offset \(hex(offset)) are past it")
        }
        // Last segment starting at or before `offset`.
        var lo = 0, hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].start <= offset { lo = mid + 1 } else { hi = mid }
        }
        var i = lo - 1
        var done = 0
        while done < buffer.count {
            let at = offset + UInt64(done)
            while i + 1 < segments.count && segments[i + 1].start <= at { i += 1 }
            let want = UInt64(buffer.count - done)
            let n: Int
            if i >= 0, at < segments[i].end {
                let s = segments[i]
                n = Int(min(want, s.end - at))
                try source.read(at: s.fileOffset + (at - s.start),
                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)]))
            } else {
                // A hole: zeros up to the next segment.
                let next = i + 1 < segments.count ? segments[i + 1].start : end
                n = Int(min(want, next - at))
                UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            done += n
        }
    }
}

extension FlattenedFile: KdumpByteSource {
    var size: UInt64 { logicalSize }
    var storedSize: UInt64 { source.size }
}

/// A buffered window over a file for reading many small record headers.
private struct ReadWindow {
    let source: FileSource
    var start: UInt64 = 0
    var bytes: [UInt8] = []
    static let capacity: UInt64 = 1 << 18

    init(source: FileSource) { self.source = source }

    mutating func recordHeader(at position: UInt64) throws -> (Int64, Int64) {
        if position < start || position + 16 > start + UInt64(bytes.count) {
            let count = min(Self.capacity, source.size - position)
            bytes = try source.read(at: position, count: Int(count))
            start = position
        }
        let r = ByteReader(bytes, file: source.path, base: start, littleEndian: false)
        let at = Int(position - start)
        return (try r.i64(at, "flattened record offset"), try r.i64(at + 8, "flattened record size"))
    }
}

/// Max-heap of record indices (the newest record has the largest index).
private struct MaxHeap {
    private var items: [Int] = []
    var top: Int? { items.first }

    mutating func push(_ value: Int) {
        items.append(value)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] < items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var largest = i
            if l < items.count && items[l] > items[largest] { largest = l }
            if r < items.count && items[r] > items[largest] { largest = r }
            if largest == i { break }
            items.swapAt(i, largest)
            i = largest
        }
    }
}
