import MKFormat
import MKMemory

/// A red-black tree's nodes in key order (the kernel's `struct rb_node`:
/// parent-and-colour word, right, left), and why a walk stopped short.
public struct RBTreeWalk {
    /// Addresses of the `rb_node`s, leftmost first.
    public var nodes: [UInt64] = []
    public var warnings: [WalkWarning] = []
    public var complete: Bool { warnings.isEmpty }
}

/// Walks an `rb_root` in order, iteratively. Bounded by the command's
/// budget (one step per node) and by a depth no valid red-black tree of
/// the address space can reach; a node met twice (a cycle) or a link that
/// is unreadable or misaligned ends the walk with a warning naming it.
public struct RBTreeWalker {
    /// A red-black tree of n nodes is at most 2·log2(n+1) deep: 128 covers
    /// any tree that fits in memory.
    public static let maxDepth = 128

    let memory: KernelMemory
    public let budget: WalkBudget
    /// Offsets of `rb_left` and `rb_right` in `struct rb_node`, from DWARF.
    public let leftOffset: UInt64
    public let rightOffset: UInt64

    public init(kernel: Kernel, budget: WalkBudget) throws {
        let node = try kernel.type("struct rb_node")
        memory = kernel.memory
        self.budget = budget
        leftOffset = try kernel.offset(of: "rb_left", in: node)
        rightOffset = try kernel.offset(of: "rb_right", in: node)
    }

    /// The nodes under `root` (the first node, `rb_root.rb_node`), in order.
    public func walk(root: UInt64) -> RBTreeWalk {
        var result = RBTreeWalk()
        var seen = Set<UInt64>()
        var stack: [UInt64] = []
        var current = root
        func fail(_ at: UInt64, _ message: String) -> RBTreeWalk {
            result.warnings.append(WalkWarning(address: at, message: "rbtree: " + message))
            return result
        }
        func valid(_ p: UInt64, from: UInt64) -> String? {
            if p & 7 != 0 { return "misaligned child pointer \(hex(p))" }
            if seen.contains(p) { return "node \(hex(p)) met twice (a cycle)" }
            return nil
        }
        if current != 0, let why = valid(current, from: 0) { return fail(current, why) }
        while current != 0 || !stack.isEmpty {
            while current != 0 {
                if Cancellation.isRequested { return fail(current, "interrupted after \(result.nodes.count) nodes") }
                guard budget.take() else {
                    return fail(current, budget.spentMessage(entries: result.nodes.count, reserve: 0))
                }
                guard stack.count < Self.maxDepth else {
                    return fail(current, "deeper than \(Self.maxDepth) levels: not a red-black tree")
                }
                seen.insert(current)
                stack.append(current)
                let left: UInt64
                do {
                    left = try memory.readVirtualU64(current &+ leftOffset)
                } catch {
                    return fail(current, "cannot read rb_left: \(error)")
                }
                if left != 0, let why = valid(left, from: current) { return fail(current, why) }
                current = left
            }
            guard let node = stack.popLast() else { break }
            result.nodes.append(node)
            let right: UInt64
            do {
                right = try memory.readVirtualU64(node &+ rightOffset)
            } catch {
                return fail(node, "cannot read rb_right: \(error)")
            }
            if right != 0, let why = valid(right, from: node) { return fail(node, why) }
            current = right
        }
        return result
    }
}
