import MKFormat
import MKSystem

/// What a search of the image's physical memory found.
public struct PhysicalSearchResult {
    /// Physical addresses of the hits, ascending.
    public var hits: [UInt64] = []
    /// The search stopped at its limit of hits.
    public var truncated = false
    /// Bytes searched.
    public var searched: UInt64 = 0
    /// Pages the image does not hold (excluded by makedumpfile, or unreadable), skipped.
    public var skippedPages: UInt64 = 0
}

extension KernelMemory {
    /// Bytes read and scanned at once: large enough for memmem's speed, small enough to bound memory.
    static let searchChunk = 8 << 20

    /// Every occurrence of `needle` at a multiple of `alignment` in the image's physical
    /// memory within `range`, up to `limit` hits. Reads the image in large chunks (a chunk
    /// it cannot read whole is read page by page, missing pages skipped); `progress` gets
    /// the bytes done and the total; Ctrl-C stops it with an error.
    public func searchPhysical(_ needle: [UInt8], alignment: Int = 1, range: Range<UInt64>? = nil, limit: Int,
                               progress: ((UInt64, UInt64) -> Void)? = nil) throws -> PhysicalSearchResult {
        var result = PhysicalSearchResult()
        guard !needle.isEmpty else { return result }
        let spans = image.physicalRanges.compactMap { r -> Range<UInt64>? in
            let s = max(r.start, range?.lowerBound ?? 0), e = min(r.end, range?.upperBound ?? UInt64.max)
            return s < e ? s..<e : nil
        }
        let total = spans.reduce(UInt64(0)) { $0 &+ ($1.upperBound - $1.lowerBound) }
        let overlap = UInt64(needle.count - 1)
        var buffer = [UInt8](repeating: 0, count: Self.searchChunk + needle.count)
        for span in spans {
            var at = span.lowerBound
            while at < span.upperBound {
                try Cancellation.check()
                let want = Int(min(UInt64(Self.searchChunk) + overlap, span.upperBound - at))
                let got = buffer.withUnsafeMutableBytes { raw -> Int in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<want])
                    if (try? image.readPhysical(at, into: slice)) != nil { return want }
                    // Page by page: a page the image lacks reads as zeros (it cannot match a needle with a non-zero byte).
                    var off = 0
                    while off < want {
                        let n = min(4096 - Int((at &+ UInt64(off)) & 4095), want - off)
                        let page = UnsafeMutableRawBufferPointer(rebasing: raw[off..<(off + n)])
                        if (try? image.readPhysical(at &+ UInt64(off), into: page)) == nil {
                            page.initializeMemory(as: UInt8.self, repeating: 0)
                            result.skippedPages += 1
                        }
                        off += n
                    }
                    return want
                }
                let offsets = buffer.withUnsafeBytes { h in
                    needle.withUnsafeBytes { n in
                        ByteSearch.offsets(of: n, in: UnsafeRawBufferPointer(rebasing: h[0..<got]),
                                           alignment: alignment, limit: limit - result.hits.count + 1)
                    }
                }
                for o in offsets {
                    let hit = at &+ UInt64(o)
                    // Overlapping chunks: a hit in the overlap is the next chunk's first.
                    if let last = result.hits.last, hit <= last { continue }
                    if alignment > 1, hit % UInt64(alignment) != 0 { continue }
                    if result.hits.count == limit { result.truncated = true; return result }
                    result.hits.append(hit)
                }
                // Not the span's last chunk: the next one starts `overlap` bytes back, so a needle across the seam is seen.
                let step = at &+ UInt64(got) >= span.upperBound ? UInt64(got) : UInt64(got) - overlap
                result.searched &+= step
                at &+= step
                progress?(result.searched, total)
            }
        }
        return result
    }
}
