/// The nodes a traversal has walked, and by which of its walks: meeting a
/// node again in the same walk is a cycle; meeting one an earlier walk went
/// through is a join (a chain shared by several lists, walked only once).
/// One traversal (all the lists `ps` walks, say) shares one; it holds no
/// more nodes than the walks' budget let them follow.
public final class WalkVisits {
    private var walkOf: [UInt64: Int32] = [:]
    private var walks: Int32 = 0

    public init() {}

    /// Starts a walk: its number, for `visit`.
    func beginWalk() -> Int32 {
        walks &+= 1
        return walks
    }

    /// Records `node` for `walk`; returns the walk that had already met it, or nil.
    func visit(_ node: UInt64, walk: Int32) -> Int32? {
        if let earlier = walkOf[node] { return earlier }
        walkOf[node] = walk
        return nil
    }

    public func contains(_ node: UInt64) -> Bool { walkOf[node] != nil }
    public var count: Int { walkOf.count }
}
