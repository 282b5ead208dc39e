import MKFormat
import MKMemory
import MKDebugInfo

/// One entry of a maple tree: the index range it covers and its pointer.
public struct MapleEntry: Equatable {
    public var start: UInt64
    public var end: UInt64
    public var pointer: UInt64
}

/// A maple tree's non-NULL entries in index order, and why a walk stopped short.
public struct MapleWalk {
    public var entries: [MapleEntry] = []
    public var warnings: [WalkWarning] = []
    /// Every node was read and passed the checks.
    public var complete: Bool { warnings.isEmpty }
}

/// Where the maple tree's node members are in this kernel (6.1+), from DWARF.
/// The node encoding is the kernel's (include/linux/maple_tree.h): a node
/// pointer has bit 1 set and bit 0 clear, its type in bits 3–6, and the
/// 256-byte aligned node in the bits above the low byte.
public struct MapleTreeLayout {
    public let root: Field
    public let flags: Field
    public let nodeSize: Int
    /// `maple_node.slot`: the dense node's slots.
    public let denseSlots: (offset: Int, count: Int)
    public let rangePivots: (offset: Int, count: Int)
    public let rangeSlots: (offset: Int, count: Int)
    public let arangePivots: (offset: Int, count: Int)
    public let arangeSlots: (offset: Int, count: Int)
    /// `meta.end`: the last slot in use, where a range node that is not full keeps it (in its last slot's place) and
    /// where an arange node always does.
    public let rangeMetaEnd: Int
    public let arangeMetaEnd: Int

    /// The kernel's bound on a tree's height (MAPLE_HEIGHT_MAX).
    public static let maxHeight = 31

    public init(_ kernel: Kernel) throws {
        let tree: CType
        do {
            tree = try kernel.type("struct maple_tree")
        } catch {
            throw KernelError.unsupportedLayout(what: "struct maple_node", message: "this kernel has no maple tree (struct maple_tree is not in its debug info; "
                + "kernels before 6.1 keep VMAs in an rbtree and list, which is not supported)")
        }
        root = try kernel.field("ma_root", in: tree)
        flags = try kernel.field("ma_flags", in: tree)
        let node = try kernel.type("struct maple_node")
        guard let size = node.byteSize, size >= 64, size <= 4096 else {
            throw KernelError.unsupportedLayout(what: "struct maple_node", message: "struct maple_node has no plausible size")
        }
        let limit = Int(size)
        nodeSize = limit
        func array(_ path: String, in type: CType) throws -> (Int, Int) {
            let f = try kernel.field(path, in: type)
            let t = f.type.resolved
            guard t.kind == .array, let n = t.count, n > 0, n <= 64, f.size == Int(n) * 8, f.end <= limit else {
                throw KernelError.unsupportedLayout(what: "struct maple_node", message: "\(TypeFormatter.name(of: type)).\(path) is not the array of a maple node")
            }
            return (f.offset, Int(n))
        }
        denseSlots = try array("slot", in: node)
        let range = try kernel.type("struct maple_range_64")
        rangePivots = try array("pivot", in: range)
        rangeSlots = try array("slot", in: range)
        let arange = try kernel.type("struct maple_arange_64")
        arangePivots = try array("pivot", in: arange)
        arangeSlots = try array("slot", in: arange)
        func byte(_ path: String, in type: CType) throws -> Int {
            let f = try kernel.field(path, in: type)
            guard f.size == 1, f.end <= limit else {
                throw KernelError.unsupportedLayout(what: "struct maple_node", message: "\(TypeFormatter.name(of: type)).\(path) is not a byte of a maple node")
            }
            return f.offset
        }
        rangeMetaEnd = try byte("meta.end", in: range)
        arangeMetaEnd = try byte("meta.end", in: arange)
        guard rangeSlots.count == rangePivots.count + 1, arangeSlots.count == arangePivots.count + 1 else {
            throw KernelError.unsupportedLayout(what: "struct maple_node", message: "this kernel's maple nodes do not have one slot more than pivots")
        }
    }
}

extension Kernel {
    /// The non-NULL entries of the `struct maple_tree` at `tree`, in index
    /// order. Each node read spends one step of `budget`; a node met twice
    /// (a cycle), a bad node pointer or type, pivots that do not increase
    /// inside the parent's range, or a tree deeper than the kernel allows
    /// stops that subtree with a warning naming the node. Reserved internal
    /// values (small even pointers with bit 1 set) are not entries.
    public func mapleTreeEntries(at tree: UInt64, layout: MapleTreeLayout, budget: WalkBudget,
                                 name: String = "maple tree") throws -> MapleWalk {
        let header = try readObject(at: tree, covering: [layout.root, layout.flags])
        let root = header.unsigned(layout.root) ?? 0
        let flags = header.unsigned(layout.flags) ?? 0
        var walk = MapleWalk()
        if root == 0 { return walk }
        if !MapleNode.isNode(root) {
            // A lone entry in the root covers index 0 only.
            if !MapleNode.isInternal(root) { walk.entries.append(MapleEntry(start: 0, end: 0, pointer: root)) }
            return walk
        }
        // ma_flags bits 2–6 hold the height (MT_FLAGS_HEIGHT_MASK); 0 on trees that do not record it.
        let height = Int((flags & 0x7c) >> 2)
        let walker = MapleWalker(kernel: self, layout: layout, budget: budget, name: name, height: height)
        walker.descend(root, min: 0, max: UInt64.max, depth: 1, parent: tree)
        walk.entries = walker.entries
        walk.warnings = walker.warnings
        return walk
    }
}

/// Facts of the node encoding.
enum MapleNode {
    static let dense: UInt64 = 0, leaf64: UInt64 = 1, range64: UInt64 = 2, arange64: UInt64 = 3

    /// An encoded node: bits 0–1 are `10` and the value is above the reserved range.
    static func isNode(_ v: UInt64) -> Bool { v & 3 == 2 && v > 4096 }
    /// A child in an internal node's slot: an encoded node (the root's
    /// `10` tag, or none with bit 2, MAPLE_ENODE_NULL, set, as mt_mk_node
    /// makes them), above the reserved range.
    static func isChild(_ v: UInt64) -> Bool { (v & 3 == 2 || v & 7 == 4) && v > 4096 }
    /// One of the tree's reserved values (retry, zero entry…), not a pointer.
    static func isInternal(_ v: UInt64) -> Bool { v & 3 == 2 && v <= 4096 }
    static func type(_ v: UInt64) -> UInt64 { (v >> 3) & 0xf }
    static func address(_ v: UInt64) -> UInt64 { v & ~UInt64(0xff) }
}

/// The depth-first walk of one tree.
private final class MapleWalker {
    let kernel: Kernel
    let layout: MapleTreeLayout
    let budget: WalkBudget
    let name: String
    let height: Int
    var entries: [MapleEntry] = []
    var warnings: [WalkWarning] = []
    var seen = Set<UInt64>()
    var stopped = false

    init(kernel: Kernel, layout: MapleTreeLayout, budget: WalkBudget, name: String, height: Int) {
        self.kernel = kernel
        self.layout = layout
        self.budget = budget
        self.name = name
        self.height = height
    }

    func warn(_ kind: String, _ address: UInt64, _ message: @autoclosure () -> String) {
        if budget.keepWarning(kind) { warnings.append(WalkWarning(address: address, message: "\(name): \(message())")) }
    }

    func descend(_ encoded: UInt64, min: UInt64, max: UInt64, depth: Int, parent: UInt64) {
        if stopped { return }
        let node = MapleNode.address(encoded)
        let type = MapleNode.type(encoded)
        guard depth <= MapleTreeLayout.maxHeight, height == 0 || depth <= height else {
            warn("maple tree depth", parent, "node \(hex(node)) is at depth \(depth), deeper than the tree's height "
                 + "\(height == 0 ? MapleTreeLayout.maxHeight : height); not followed")
            return
        }
        guard type <= MapleNode.arange64 else {
            warn("maple node type", parent, "node pointer \(hex(encoded)) has type \(type), not a maple node type; not followed")
            return
        }
        guard seen.insert(node).inserted else {
            warn("maple tree cycle", parent, "node \(hex(node)) is reached a second time (a cycle); not followed")
            return
        }
        if entries.count & 4095 == 4095, Cancellation.isRequested {
            warn("interrupted", node, "interrupted after \(entries.count) entries")
            stopped = true
            return
        }
        guard budget.take() else {
            warn("walk budget", node, budget.spentMessage(entries: entries.count, reserve: 0))
            stopped = true
            return
        }
        let bytes: [UInt8]
        do {
            bytes = try kernel.memory.readVirtual(node, count: layout.nodeSize)
        } catch {
            warn("unreadable maple node", node, "cannot read the node: \(error)")
            return
        }
        func word(_ offset: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
            return v
        }
        if type == MapleNode.dense {
            if height != 0 && depth != height { warn("maple tree depth", node, "leaf at depth \(depth) of a tree of height \(height)") }
            for i in 0..<layout.denseSlots.count {
                let (index, o) = min.addingReportingOverflow(UInt64(i))
                if o || index > max { break }
                let v = word(layout.denseSlots.offset + i * 8)
                if v != 0 && !MapleNode.isInternal(v) { entries.append(MapleEntry(start: index, end: index, pointer: v)) }
            }
            return
        }
        let (pivots, slots) = type == MapleNode.arange64 ? (layout.arangePivots, layout.arangeSlots)
            : (layout.rangePivots, layout.rangeSlots)
        let leaf = type == MapleNode.leaf64
        if leaf && height != 0 && depth != height {
            warn("maple tree depth", node, "leaf at depth \(depth) of a tree of height \(height)")
        }
        // The last slot in use, as the kernel finds it (ma_data_end): an arange node's metadata; a range node's last
        // pivot when that is its maximum (or set: the node is full), else its metadata.
        let end: Int
        let lastPivot = word(pivots.offset + (pivots.count - 1) * 8)
        if type == MapleNode.arange64 {
            end = Int(bytes[layout.arangeMetaEnd])
        } else if lastPivot == 0 {
            end = Int(bytes[layout.rangeMetaEnd])
        } else {
            end = lastPivot == max ? pivots.count - 1 : pivots.count
        }
        guard end < slots.count else {
            warn("maple node end", node, "the node's last slot in use is \(end), past its \(slots.count) slots; not read")
            return
        }
        var lo = min
        for i in 0...end {
            // Slot i runs to pivot i; the last one in use runs to the node's maximum.
            let pivot = i < end ? word(pivots.offset + i * 8) : max
            guard pivot >= lo, pivot <= max, i == end || pivot < max else {
                warn("maple pivots", node, "pivot \(i) is \(hex(pivot)), outside \(hex(lo))–\(hex(max)) "
                     + "(pivots must increase within the node's range, below its last slot \(end)); the rest of the node is not read")
                return
            }
            let v = word(slots.offset + i * 8)
            if leaf {
                if v != 0 && !MapleNode.isInternal(v) { entries.append(MapleEntry(start: lo, end: pivot, pointer: v)) }
            } else {
                guard MapleNode.isChild(v) else {
                    warn("maple node pointer", node, "slot \(i) holds \(hex(v)), not a node pointer; not followed")
                    return
                }
                descend(v, min: lo, max: pivot, depth: depth + 1, parent: node)
                if stopped { return }
            }
            if i < end { lo = pivot + 1 }
        }
    }
}
