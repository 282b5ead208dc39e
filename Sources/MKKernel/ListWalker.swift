import MKFormat
import MKMemory

/// A problem met while walking a kernel list: where, and what.
public struct WalkWarning: CustomStringConvertible, Equatable {
    public var address: UInt64
    public var message: String

    public init(address: UInt64, message: String) {
        self.address = address
        self.message = message
    }

    public var description: String { "\(message) (at \(hex(address)))" }
}

/// Walks `list_head` and `hlist` chains in memory that may be corrupt
/// (post-mortem) or changing (live). Every walk is bounded (its own
/// `limit`, and the command's `WalkBudget`), and stops with a warning
/// naming the node at an unreadable or misaligned link, at a link whose
/// way back does not lead back (`next->prev != node`, as the kernel's list
/// debugging checks), at a cycle, or where it joins a chain an earlier walk
/// of the same traversal (`WalkVisits`) already went through.
public struct ListWalker {
    public static let defaultLimit = 1 << 20

    let memory: KernelMemory
    public var limit: Int
    public let budget: WalkBudget
    public let visits: WalkVisits
    /// Check each node's way back (`prev`, `pprev`): off for chains of a
    /// bare `next` pointer, which have none.
    public var checksBackLinks = true

    public init(memory: KernelMemory, limit: Int = ListWalker.defaultLimit, budget: WalkBudget = WalkBudget(),
                visits: WalkVisits = WalkVisits()) {
        self.memory = memory
        self.limit = limit
        self.budget = budget
        self.visits = visits
    }

    /// How a walk ended.
    public enum End: Equatable {
        /// Back at the head (a list), or at NULL (an hlist): the whole list.
        case complete
        /// At `node`, which an earlier walk of the traversal went through.
        case joined(node: UInt64)
        /// At `node`, met before in this walk.
        case cycle(node: UInt64)
        case unreadable, badPointer, brokenLink
        /// At a node the caller's check refused (not an entry of this list).
        case invalidEntry
        /// The walk's own `limit`, or the budget.
        case limit, budget
        case interrupted
    }

    public struct Result {
        /// Addresses of the `list_head` nodes after the head, in order.
        public var nodes: [UInt64] = []
        public var end: End = .complete
        /// Where a walk that did not complete stopped, and why (built only when asked for).
        var stop: (address: UInt64, message: () -> String)?
        /// The walk came back to the head (or reached NULL).
        public var complete: Bool { end == .complete }
        /// Why the walk stopped short, naming the node it stopped at.
        public var warnings: [WalkWarning] { stop.map { [WalkWarning(address: $0.address, message: $0.message())] } ?? [] }
    }

    /// Follows `next` (offset 0 of `struct list_head`) from `head` until it
    /// returns to `head`; `nextOffset` 8 follows `prev` instead. The walk
    /// leaves `reserve` of the budget unspent. `validate` may refuse a node
    /// (returning why): the walk stops before it, as at a broken link.
    public func walk(head: UInt64, nextOffset: UInt64 = 0, reserve: Int = 0,
                     validate: ((UInt64) -> String?)? = nil) -> Result {
        chain(start: head, first: nil, nextOffset: nextOffset, backOffset: nextOffset == 0 ? 8 : 0, reserve: reserve,
              validate: validate)
    }

    /// Follows an `hlist_head`'s `first` then each node's `next` until NULL
    /// (checking each node's `pprev`).
    public func walkHlist(head: UInt64, reserve: Int = 0) -> Result {
        let first: UInt64
        do {
            first = try memory.readVirtualU64(head)
        } catch {
            var r = Result()
            r.end = .unreadable
            r.stop = (head, { "cannot read hlist head: \(error)" })
            return r
        }
        return chain(start: head, first: first, nextOffset: 0, backOffset: 8, reserve: reserve, validate: nil)
    }

    /// The walk: a ring back to `start` when `first` is nil, else a
    /// NULL-terminated chain from `first` (the hlist case).
    private func chain(start: UInt64, first: UInt64?, nextOffset: UInt64, backOffset: UInt64, reserve: Int,
                       validate: ((UInt64) -> String?)?) -> Result {
        var result = Result()
        let isRing = first == nil
        let walk = visits.beginWalk()
        _ = visits.visit(start, walk: walk)
        func stop(_ end: End, at address: UInt64, _ message: @escaping @autoclosure () -> String) -> Result {
            result.end = end
            result.stop = (address, message)
            return result
        }
        var current = start
        var pending = first
        while true {
            if result.nodes.count & 4095 == 4095, Cancellation.isRequested {
                return stop(.interrupted, at: current, "interrupted after \(result.nodes.count) entries")
            }
            guard budget.take(leaving: reserve) else {
                return stop(.budget, at: current, budget.spentMessage(entries: result.nodes.count, reserve: reserve))
            }
            let next: UInt64
            if let p = pending {
                next = p
                pending = nil
            } else {
                do {
                    next = try memory.readVirtualU64(current &+ nextOffset)
                } catch {
                    return stop(.unreadable, at: current, "cannot read the next link: \(error)")
                }
            }
            if isRing ? next == start : next == 0 {
                result.end = .complete
                return result
            }
            if next == 0 || next & 7 != 0 {
                return stop(.badPointer, at: current, isRing ? "bad next pointer \(hex(next))" : "bad hlist pointer \(hex(next))")
            }
            if let earlier = visits.visit(next, walk: walk) {
                if earlier == walk {
                    return stop(.cycle(node: next), at: current,
                                "list loops back to \(hex(next)) without reaching the \(isRing ? "head" : "end")")
                }
                return stop(.joined(node: next), at: current,
                            "joins at \(hex(next)) a chain already walked, without coming back to its \(isRing ? "head" : "end")")
            }
            // The link back: prev (pprev for an hlist node) of the node reached must be the node it was reached from.
            var back = current
            if checksBackLinks {
                do {
                    back = try memory.readVirtualU64(next &+ backOffset)
                } catch {
                    return stop(.unreadable, at: current, "cannot read the link back of \(hex(next)): \(error)")
                }
            }
            if back != current {
                let name = isRing ? (backOffset == 8 ? "prev" : "next") : "pprev"
                return stop(.brokenLink, at: current,
                            "broken link: \(hex(next)), reached from here, has \(name) \(hex(back)) instead of \(hex(current))")
            }
            if let validate, let why = validate(next) {
                return stop(.invalidEntry, at: current, "the next node \(hex(next)) \(why); not followed")
            }
            if result.nodes.count >= limit {
                return stop(.limit, at: current, "stopped after \(limit) entries (this walk's limit)")
            }
            result.nodes.append(next)
            current = next
        }
    }
}
