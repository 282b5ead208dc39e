import MKFormat
import MKMemory
import MKDebugInfo

/// The non-NULL entries of an `xarray` (or a `radix_tree_root`, the same
/// structure) in index order, and why a walk stopped short.
public struct XArrayWalk {
    public var entries: [(index: UInt64, pointer: UInt64)] = []
    public var warnings: [WalkWarning] = []
    public var complete: Bool { warnings.isEmpty }
}

extension Kernel {
    /// Walks the `struct xarray` at `array` (`xa_head`, then `xa_node`s of
    /// 2^shift-index slots). Each node spends one step of `budget`; a node met
    /// twice, a node pointer that is misaligned or unreadable, a shift that is
    /// not its parent's less one chunk, or more levels than a 64-bit index
    /// needs stop that subtree with a warning naming the node. Value entries
    /// (bit 0 set) and the reserved internal values (siblings, retry, zero)
    /// are not pointers and are skipped.
    public func xarrayEntries(at array: UInt64, budget: WalkBudget, name: String = "xarray") throws -> XArrayWalk {
        let xa = try type("struct xarray")
        let headOffset = try offset(of: "xa_head", in: xa)
        let node = try type("struct xa_node")
        let shiftOffset = try offset(of: "shift", in: node)
        let slots = try field("slots", in: node)
        guard let count = slots.type.resolved.count, count > 0, count <= 256 else {
            throw KernelError.unsupportedLayout(what: "struct xa_node.slots", message: "xa_node.slots is not an array of pointers")
        }
        let chunkShift = UInt64(count.trailingZeroBitCount)
        var walk = XArrayWalk()
        var seen = Set<UInt64>()
        let head = try memory.readVirtualU64(array &+ headOffset)
        // xa_is_node: an internal entry (low bits 10) above the reserved range.
        func isNode(_ v: UInt64) -> Bool { v & 3 == 2 && v > 4096 }
        func descend(_ entry: UInt64, base: UInt64, parentShift: UInt64?, depth: Int) {
            let n = entry &- 2
            guard depth <= 12 else {
                walk.warnings.append(WalkWarning(address: n, message: "\(name): deeper than a 64-bit index allows"))
                return
            }
            guard n & 7 == 0 else {
                walk.warnings.append(WalkWarning(address: n, message: "\(name): misaligned xa_node pointer \(hex(entry))"))
                return
            }
            guard seen.insert(n).inserted else {
                walk.warnings.append(WalkWarning(address: n, message: "\(name): xa_node \(hex(n)) met twice (a cycle)"))
                return
            }
            guard budget.take() else {
                if budget.keepWarning("walk budget") {
                    walk.warnings.append(WalkWarning(address: n, message: "\(name): " + budget.spentMessage(entries: walk.entries.count, reserve: 0)))
                }
                return
            }
            let bytes: [UInt8]
            let shift: UInt64
            do {
                shift = UInt64(try memory.readVirtual(n &+ shiftOffset, count: 1)[0])
                bytes = try memory.readVirtual(n &+ UInt64(slots.offset), count: Int(count) * 8)
            } catch {
                walk.warnings.append(WalkWarning(address: n, message: "\(name): cannot read the xa_node: \(error)"))
                return
            }
            guard shift < 64, shift % chunkShift == 0, parentShift.map({ $0 == shift &+ chunkShift }) ?? true else {
                walk.warnings.append(WalkWarning(address: n, message: "\(name): xa_node \(hex(n)) has shift \(shift), "
                                                 + "not a level below its parent's"))
                return
            }
            for i in 0..<Int(count) {
                var v: UInt64 = 0
                for b in (0..<8).reversed() { v = v << 8 | UInt64(bytes[i * 8 + b]) }
                if v == 0 || v & 1 == 1 { continue }
                let index = base | (UInt64(i) << shift)
                if isNode(v) {
                    if shift == 0 {
                        walk.warnings.append(WalkWarning(address: n, message: "\(name): a leaf xa_node \(hex(n)) points at a node"))
                        continue
                    }
                    descend(v, base: index, parentShift: shift, depth: depth + 1)
                } else if v & 3 == 0 {
                    walk.entries.append((index: index, pointer: v))
                }
            }
        }
        if head == 0 { return walk }
        if isNode(head) {
            descend(head, base: 0, parentShift: nil, depth: 1)
        } else if head & 3 == 0 {
            walk.entries.append((index: 0, pointer: head))
        }
        return walk
    }
}
