import MKFormat
import MKMemory

/// A walk along a kernel list, as crash's `list` does it: from a list head
/// or from an entry, forwards or backwards, over `list_head` rings or
/// NULL-terminated `hlist` chains, giving the addresses of the containing
/// entries (`node − linkOffset`, container_of).
public struct ListQuery {
    public enum Kind: String { case list, hlist }

    public var kind: Kind = .list
    /// The address of the first linkage node (a `list_head` / `hlist_node`)
    /// or, when `startIsHead`, of the list's head.
    public var start: UInt64
    /// `start` is a head that is not itself an entry (crash's `-H`; always
    /// so for an `hlist_head`).
    public var startIsHead: Bool
    /// Offset of the linkage member in the entry's struct.
    public var linkOffset: UInt64 = 0
    /// Follow `prev` instead of `next` (lists only).
    public var reverse = false
    public var limit = ListWalker.defaultLimit
    /// The links are `list_head`s or `hlist_node`s, whose `prev`/`pprev`
    /// the walk checks; false for a chain of bare `next` pointers.
    public var checksBackLinks = true

    public init(kind: Kind = .list, start: UInt64, startIsHead: Bool, linkOffset: UInt64 = 0) {
        self.kind = kind
        self.start = start
        self.startIsHead = startIsHead
        self.linkOffset = linkOffset
    }
}

public struct ListResult {
    /// Entry addresses (linkage node − `linkOffset`), in walk order.
    public var entries: [UInt64] = []
    public var warnings: [WalkWarning] = []
    /// The walk ended where it should: back at the head, or at NULL.
    public var complete = false
}

extension Kernel {
    /// The walk, within `budget` (the query's own `limit` bounds it too).
    public func walk(_ q: ListQuery, budget: WalkBudget = WalkBudget()) -> ListResult {
        var result = ListResult()
        var walker = ListWalker(memory: memory, limit: max(1, q.limit), budget: budget)
        walker.checksBackLinks = q.checksBackLinks
        let r: ListWalker.Result
        switch q.kind {
        case .list:
            r = walker.walk(head: q.start, nextOffset: q.reverse ? 8 : 0)
        case .hlist:
            // For an hlist_head the first word is `first`; for an hlist_node it is `next`.
            r = walker.walkHlist(head: q.start)
        }
        var nodes = r.nodes
        if !q.startIsHead { nodes.insert(q.start, at: 0) }
        if nodes.count > q.limit { nodes = Array(nodes.prefix(q.limit)) }
        result.entries = nodes.map { $0 &- q.linkOffset }
        result.warnings = r.warnings.filter { _ in budget.keepWarning("list") }
        result.complete = r.complete
        return result
    }
}
