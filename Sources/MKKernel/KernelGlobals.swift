import MKDebugInfo

/// The types of the globals the helpers read, for a kernel whose types come
/// from BTF: BTF records only per-CPU variables, and these declarations have
/// been stable across the kernels mkdbg reads (6.1 to 6.12). A global is
/// declared only when the kernel has the symbol and BTF has the type, so an
/// older or newer kernel without one reports it missing as with DWARF.
public enum KernelGlobals {
    /// name → C declaration: a type name, then `*`s, then an optional `[N]` (`[]`: length
    /// unknown; `[ENUMERATOR]`: that enumerator's value).
    static let declarations: [String: String] = [
        "init_task": "struct task_struct",
        "init_uts_ns": "struct uts_namespace",
        "init_net": "struct net",
        "init_ipc_ns": "struct ipc_namespace",
        "init_mm": "struct mm_struct",
        "prb": "struct printk_ringbuffer *",
        "panic_cpu": "atomic_t",
        "nr_threads": "int",
        "nr_irqs": "int",
        "nr_cpu_ids": "unsigned int",
        "nr_node_ids": "unsigned int",
        "nr_swapfiles": "unsigned int",
        "total_swap_pages": "long int",
        "nr_swap_pages": "atomic_long_t",
        "tick_nsec": "long unsigned int",
        "jiffies": "long unsigned int",
        "jiffies_64": "u64",
        "avenrun": "long unsigned int [3]",
        "_totalram_pages": "atomic_long_t",
        "totalram_pages": "atomic_long_t",
        "__per_cpu_offset": "long unsigned int []",
        "__cpu_online_mask": "struct cpumask",
        "__cpu_possible_mask": "struct cpumask",
        "__cpu_present_mask": "struct cpumask",
        "__cpu_active_mask": "struct cpumask",
        "blockdev_superblock": "struct super_block *",
        "slab_caches": "struct list_head",
        "modules": "struct list_head",
        "net_namespace_list": "struct list_head",
        "irq_desc_tree": "struct xarray",  // struct radix_tree_root is a macro for it
        "sparse_irqs": "struct maple_tree",
        "vm_zone_stat": "atomic_long_t [NR_VM_ZONE_STAT_ITEMS]",
        "vm_node_stat": "atomic_long_t [NR_VM_NODE_STAT_ITEMS]",
        "chrdevs": "struct char_device_struct * [255]",
        "major_names": "struct blk_major_name * [255]",
        "swap_info": "struct swap_info_struct * []",
        "vmap_area_root": "struct rb_root",
        "super_blocks": "struct list_head",
        "node_data": "struct pglist_data * []",
        "mem_section": "struct mem_section * *",
        "vmemmap_base": "long unsigned int",
        "page_offset_base": "long unsigned int",
        "max_pfn": "long unsigned int",
        "high_memory": "void *",
        "tk_core": "struct {timekeeper}",
    ]

    /// Declares, in `btf`, each global above that the kernel has.
    public static func declare(in btf: BtfTypes, symbols: SymbolTable?) {
        for (name, declaration) in declarations where btf.variable(name) == nil && symbols?.lookup(name) != nil {
            if let t = type(declaration, btf) { btf.declare(name, type: t) }
        }
    }

    /// `struct task_struct *`, `unsigned long [3]`, `struct {timekeeper}` (the
    /// anonymous struct with that member) as a `CType` from BTF.
    static func type(_ declaration: String, _ btf: BtfTypes) -> CType? {
        var text = Substring(declaration)
        var count: UInt64??
        if let open = text.lastIndex(of: "["), text.hasSuffix("]") {
            let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
            if inner.isEmpty {
                count = .some(nil)
            } else if let n = UInt64(inner) {
                count = .some(n)
            } else if let e = btf.enumerator(String(inner)), e.value >= 0 {
                count = .some(UInt64(e.value))
            }
            guard count != nil else { return nil }
            text = text[..<open]
        }
        text = Substring(text.trimmingCharacters(in: " "))
        var pointers = 0
        while text.hasSuffix("*") {
            pointers += 1
            text = Substring(text.dropLast().trimmingCharacters(in: " "))
        }
        var t: CType
        if text.hasPrefix("struct {"), text.hasSuffix("}") {
            guard let found = btf.anonymousStruct(withMember: String(text.dropFirst(8).dropLast())) else { return nil }
            t = found
        } else {
            guard let found = btf.findType(String(text)) else { return nil }
            t = found
        }
        for _ in 0..<pointers { t = CType.pointer(to: t) }
        if let count { t = CType.array(of: t, count: count) }
        return t
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}
