import MKFormat
import MKMemory
import MKDebugInfo

/// A busy `struct vmap_area` (vmalloc, ioremap, vmap stacks, modules on
/// some kernels) and its `vm_struct`.
public struct VmapArea: Equatable {
    public var address: UInt64
    public var start: UInt64
    public var end: UInt64
    /// `vm` (0 for an area with none, as vm_map_ram's).
    public var vm: UInt64
    public var caller: UInt64?
    public var flags: UInt64?
    public var node: Int
}

public struct VmapAreaList {
    public var areas: [VmapArea] = []
    public var warnings: [WalkWarning] = []
}

extension Kernel {
    /// Every busy vmap area, by start address: the `vmap_area_root` rbtree
    /// (to 6.8), or each of the `nr_vmap_nodes` `vmap_nodes`' `busy.root`
    /// (6.9+); whichever this kernel's DWARF has. Bounded by `budget`.
    public func vmapAreas(budget: WalkBudget) throws -> VmapAreaList {
        let va = try type("struct vmap_area")
        let start = try field("va_start", in: va), end = try field("va_end", in: va)
        let vmField = try field("vm", in: va)
        let rb = try offset(of: "rb_node", in: va)
        var roots: [(node: Int, root: UInt64)] = []
        if has(variable: "vmap_nodes") {
            let nodes = try object("vmap_nodes").unsigned()
            let count = has(variable: "nr_vmap_nodes") ? try object("nr_vmap_nodes").unsigned() : 1
            guard count >= 1, count <= 1 << 12 else {
                throw KernelError.implausible(what: "nr_vmap_nodes", value: count, address: try? address(of: "nr_vmap_nodes"),
                                              message: "nr_vmap_nodes is \(count), not a node count")
            }
            let node = try type("struct vmap_node")
            guard let size = node.byteSize, size > 0 else {
                throw KernelError.unsupportedLayout(what: "struct vmap_node", message: "struct vmap_node has no size")
            }
            let busy = try offset(of: "busy.root.rb_node", in: node)
            for i in 0..<count {
                roots.append((Int(i), try memory.readVirtualU64(nodes &+ i &* size &+ busy)))
            }
        } else if has(variable: "vmap_area_root") {
            roots.append((0, try memory.readVirtualU64(try address(of: "vmap_area_root"))))
        } else {
            throw KernelError.unsupportedLayout(what: "vmap areas", message: "the kernel has neither vmap_nodes (6.9+) nor vmap_area_root")
        }
        let vmType = vmField.type.resolved.target
        let caller = vmType.flatMap { optionalField("caller", in: $0) }
        let flags = vmType.flatMap { optionalField("flags", in: $0) }
        let walker = try RBTreeWalker(kernel: self, budget: budget)
        var result = VmapAreaList()
        for (n, root) in roots {
            let walk = walker.walk(root: root)
            result.warnings += walk.warnings.map { WalkWarning(address: $0.address, message: "vmap areas of node \(n): \($0.message)") }
            for node in walk.nodes {
                let at = node &- rb
                do {
                    let b = try readObject(at: at, covering: [start, end, vmField])
                    var a = VmapArea(address: at, start: b.unsigned(start) ?? 0, end: b.unsigned(end) ?? 0, vm: b.unsigned(vmField) ?? 0, node: n)
                    if a.vm != 0, let fields = [caller, flags].compactMap({ $0 }) as [Field]?, !fields.isEmpty,
                       let v = try? readObject(at: a.vm, covering: fields) {
                        a.caller = caller.flatMap { v.unsigned($0) }
                        a.flags = flags.flatMap { v.unsigned($0) }
                    }
                    result.areas.append(a)
                } catch {
                    result.warnings.append(WalkWarning(address: at, message: "cannot read the vmap_area: \(error)"))
                }
            }
        }
        result.areas.sort { $0.start < $1.start }
        return result
    }
}
