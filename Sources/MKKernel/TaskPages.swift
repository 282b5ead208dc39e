import MKFormat
import MKMemory

/// One page of a process's address space and the physical page behind it.
public struct UserPage: Equatable {
    public var virtual: UInt64
    /// nil when no page-table entry maps it (not yet touched, swapped out, or a guard page).
    public var physical: UInt64?
}

extension Kernel {
    /// The pages of `start..<end` in the address space whose top-level table is
    /// `pgd` (an `mm->pgd`, a direct-map address), through that table; at most
    /// `limit` pages (`cut` says the range went on).
    public func userPages(pgd: UInt64, start: UInt64, end: UInt64, limit: Int) throws -> (pages: [UserPage], cut: Bool) {
        let root = try memory.translate(pgd).physical
        let walker = try memory.pageTableWalker(root: root)
        let page: UInt64 = 4096
        var pages: [UserPage] = []
        var va = start & ~(page - 1)
        while va < end {
            if pages.count >= limit { return (pages, true) }
            try Cancellation.check()
            let walk = try walker.walk(va)
            if case let .mapped(physical, _) = walk.outcome {
                pages.append(UserPage(virtual: va, physical: physical))
            } else {
                pages.append(UserPage(virtual: va, physical: nil))
            }
            let (next, overflow) = va.addingReportingOverflow(page)
            if overflow { break }
            va = next
        }
        return (pages, false)
    }
}
