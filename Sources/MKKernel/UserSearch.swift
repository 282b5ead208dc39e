import MKFormat
import MKMemory
import MKSystem

/// What a search of a task's user address space found.
public struct UserSearchResult {
    /// User virtual addresses of the hits, ascending.
    public var hits: [UInt64] = []
    public var truncated = false
    /// Bytes of mapped pages searched.
    public var searched: UInt64 = 0
    /// Pages of the task's VMAs no page-table entry maps (never touched, swapped out), skipped.
    public var unmappedPages: UInt64 = 0
    /// The page budget ran out before the last VMA.
    public var cut = false
}

extension Kernel {
    /// At most this many pages of a task's VMAs are walked by one search (16 GiB of address space).
    public static let userSearchPageLimit = 1 << 22

    /// Every occurrence of `needle` at a multiple of `alignment` in the pages a task's VMAs map
    /// (through its own page tables, `mm->pgd`), within `range`, up to `limit` hits. A needle may
    /// straddle two pages that are adjacent in the address space.
    public func searchUser(_ map: TaskMemoryMap, needle: [UInt8], alignment: Int, range: Range<UInt64>, limit: Int,
                           pageLimit: Int = Kernel.userSearchPageLimit) throws -> UserSearchResult {
        var result = UserSearchResult()
        guard !needle.isEmpty, alignment > 0 else { return result }
        var budget = pageLimit
        let page: UInt64 = 4096
        for area in map.areas {
            let start = max(area.start, range.lowerBound), end = min(area.end, range.upperBound)
            guard start < end else { continue }
            guard budget > 0 else { result.cut = true; break }
            let (pages, cut) = try userPages(pgd: map.pgd, start: start, end: end, limit: budget)
            budget -= pages.count
            if cut { result.cut = true }
            // Runs of mapped pages, contiguous in the address space, searched with the bytes carried over.
            var carry: [UInt8] = []
            var carryStart: UInt64 = 0
            var previous: UInt64?
            for p in pages {
                try Cancellation.check()
                guard let physical = p.physical, let bytes = try? memory.readPhysical(physical, count: Int(page)) else {
                    result.unmappedPages += 1
                    carry = []
                    previous = nil
                    continue
                }
                if previous.map({ $0 &+ page != p.virtual }) ?? true { carry = [] }
                let window = carry + bytes
                let base = carry.isEmpty ? p.virtual : carryStart
                let offsets = window.withUnsafeBytes { h in
                    needle.withUnsafeBytes { n in
                        ByteSearch.offsets(of: n, in: h, alignment: 1, limit: Int.max)
                    }
                }
                for o in offsets {
                    let at = base &+ UInt64(o)
                    guard at % UInt64(alignment) == 0, at >= start, at &+ UInt64(needle.count) <= end else { continue }
                    // A hit wholly inside the carried bytes was found with the page before.
                    guard o + needle.count > carry.count else { continue }
                    if result.hits.count >= limit { result.truncated = true; return result }
                    result.hits.append(at)
                }
                result.searched &+= page
                let keep = min(needle.count - 1, window.count)
                carry = Array(window.suffix(keep))
                carryStart = base &+ UInt64(window.count - keep)
                previous = p.virtual
            }
        }
        return result
    }
}
