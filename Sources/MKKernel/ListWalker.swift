import MKFormat
import MKMemory

/// A problem met while walking a kernel list: where, and what.
public struct WalkWarning: CustomStringConvertible, Equatable {
    public var address: UInt64
    public var message: String
    public var description: String { "\(message) (at \(hex(address)))" }
}

/// Walks `list_head` and `hlist` chains in memory that may be corrupt
/// (post-mortem) or changing (live): every walk is bounded, detects
/// cycles that do not pass through the head, and stops with a warning at
/// an unreadable or misaligned link instead of looping or trapping.
public struct ListWalker {
    public static let defaultLimit = 1 << 20

    let memory: KernelMemory
    public var limit: Int

    public init(memory: KernelMemory, limit: Int = ListWalker.defaultLimit) {
        self.memory = memory
        self.limit = limit
    }

    public struct Result {
        /// Addresses of the `list_head` nodes after the head, in order.
        public var nodes: [UInt64] = []
        public var warnings: [WalkWarning] = []
        /// The walk came back to the head.
        public var complete = false
    }

    /// Follows `next` (offset 0 of `struct list_head`) from `head` until it
    /// returns to `head`. `nextOffset` lets callers follow `prev` instead.
    public func walk(head: UInt64, nextOffset: UInt64 = 0) -> Result {
        var result = Result()
        var seen = Set<UInt64>()
        var current = head
        while true {
            let next: UInt64
            do {
                next = try memory.readVirtualU64(current &+ nextOffset)
            } catch {
                result.warnings.append(WalkWarning(address: current, message: "cannot read the next link: \(error)"))
                return result
            }
            if next == head {
                result.complete = true
                return result
            }
            if next == 0 || next & 7 != 0 {
                result.warnings.append(WalkWarning(address: current, message: "bad next pointer \(hex(next))"))
                return result
            }
            if !seen.insert(next).inserted {
                result.warnings.append(WalkWarning(address: current, message: "list loops back to \(hex(next)) without reaching the head"))
                return result
            }
            if result.nodes.count >= limit {
                result.warnings.append(WalkWarning(address: current, message: "stopped after \(limit) entries"))
                return result
            }
            result.nodes.append(next)
            current = next
        }
    }

    /// Follows an `hlist_head`'s `first` then each node's `next` until NULL.
    public func walkHlist(head: UInt64) -> Result {
        var result = Result()
        var seen = Set<UInt64>()
        var current: UInt64
        do {
            current = try memory.readVirtualU64(head)
        } catch {
            result.warnings.append(WalkWarning(address: head, message: "cannot read hlist head: \(error)"))
            return result
        }
        while current != 0 {
            if current & 7 != 0 {
                result.warnings.append(WalkWarning(address: current, message: "bad hlist pointer"))
                return result
            }
            if !seen.insert(current).inserted {
                result.warnings.append(WalkWarning(address: current, message: "hlist loops"))
                return result
            }
            if result.nodes.count >= limit {
                result.warnings.append(WalkWarning(address: current, message: "stopped after \(limit) entries"))
                return result
            }
            result.nodes.append(current)
            do {
                current = try memory.readVirtualU64(current)
            } catch {
                result.warnings.append(WalkWarning(address: current, message: "cannot read the next link: \(error)"))
                return result
            }
        }
        result.complete = true
        return result
    }
}
