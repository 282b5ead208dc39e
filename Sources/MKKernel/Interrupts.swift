import MKFormat
import MKMemory
import MKDebugInfo

/// One interrupt descriptor (`struct irq_desc`), as `irq` shows it.
public struct InterruptDescriptor: Equatable {
    public var irq: UInt64
    public var desc: UInt64
    /// `irq_data.chip->name`; nil without a chip.
    public var chip: String?
    /// The first `irqaction`, 0 without one.
    public var action: UInt64
    /// Each named action's `name`, in `action->next` order (a chained handler's nameless one is left out).
    public var actionNames: [String]
    /// The CPUs of `irq_common_data.affinity`; nil when it cannot be read.
    public var affinity: [Int]?
    /// `kstat_irqs` per possible CPU, (cpu, count).
    public var counts: [(cpu: Int, count: UInt64)]

    public static func == (a: InterruptDescriptor, b: InterruptDescriptor) -> Bool {
        a.irq == b.irq && a.desc == b.desc && a.chip == b.chip && a.action == b.action && a.actionNames == b.actionNames
            && a.affinity == b.affinity && a.counts.map(\.cpu) == b.counts.map(\.cpu) && a.counts.map(\.count) == b.counts.map(\.count)
    }
}

/// The descriptors found and what went wrong finding them.
public struct InterruptDescriptors {
    public var descriptors: [InterruptDescriptor] = []
    public var warnings: [WalkWarning] = []
}

/// Where the IRQ descriptors are kept (the `sparse_irqs` maple tree from
/// 6.5, the `irq_desc_tree` radix tree before) and where `irq_desc`,
/// `irq_chip` and `irqaction` keep what `irq` shows, from DWARF.
public struct InterruptLayout {
    public enum Store { case maple(UInt64, MapleTreeLayout), radix(UInt64) }
    public let store: Store
    public let chip: Field
    public let chipName: Field
    public let action: Field
    public let actionNext: Field
    public let actionName: Field
    public let affinity: Field
    public let kstat: Field
    /// Offset of the count in what `kstat_irqs` points at (`irqstat.cnt` from 6.10, else 0).
    public let kstatCount: UInt64

    public init(_ kernel: Kernel) throws {
        if kernel.has(variable: "sparse_irqs") {
            store = .maple(try kernel.address(of: "sparse_irqs"), try MapleTreeLayout(kernel))
        } else if kernel.has(variable: "irq_desc_tree") {
            store = .radix(try kernel.address(of: "irq_desc_tree"))
        } else {
            throw KernelError.unsupportedLayout(what: "sparse_irqs", message: "the kernel has neither sparse_irqs (a maple tree, 6.5 on) "
                + "nor irq_desc_tree (a radix tree): a kernel without CONFIG_SPARSE_IRQ is not supported")
        }
        let desc = try kernel.type("struct irq_desc")
        chip = try kernel.field("irq_data.chip", in: desc)
        chipName = try kernel.field("name", in: kernel.type("struct irq_chip"))
        action = try kernel.field("action", in: desc)
        let a = try kernel.type("struct irqaction")
        actionNext = try kernel.field("next", in: a)
        actionName = try kernel.field("name", in: a)
        affinity = try kernel.field("irq_common_data.affinity", in: desc)
        kstat = try kernel.field("kstat_irqs", in: desc)
        if let irqstat = try? kernel.type("struct irqstat") {
            kstatCount = try kernel.offset(of: "cnt", in: irqstat)
        } else {
            kstatCount = 0
        }
    }
}

extension Kernel {
    /// The IRQ descriptors in IRQ order (`only`: that IRQ's alone).
    public func interruptDescriptors(only: UInt64? = nil, layout: InterruptLayout,
                                     budget: WalkBudget) throws -> InterruptDescriptors {
        var out = InterruptDescriptors()
        var found: [(UInt64, UInt64)] = []
        switch layout.store {
        case let .maple(tree, maple):
            let walk = try mapleTreeEntries(at: tree, layout: maple, budget: budget, name: "sparse_irqs")
            out.warnings += walk.warnings
            for e in walk.entries {
                // One descriptor per index; a range entry would be one pointer for many IRQs.
                guard e.start == e.end else {
                    out.warnings.append(WalkWarning(address: e.pointer, message: "sparse_irqs: entry for IRQs \(e.start)–\(e.end) "
                                                    + "is a range, not one descriptor"))
                    continue
                }
                found.append((e.start, e.pointer))
            }
        case let .radix(root):
            let walk = try xarrayEntries(at: root, budget: budget, name: "irq_desc_tree")
            out.warnings += walk.warnings
            found = walk.entries.map { ($0.index, $0.pointer) }
        }
        if let only { found = found.filter { $0.0 == only } }
        let cpus = (try? self.cpus(.possible)) ?? Array(0..<((try? nrCPUIds()) ?? 1))
        let nCPU = (try? nrCPUIds()) ?? (cpus.max().map { $0 + 1 } ?? 1)
        let offsets = try? perCPUOffsets()
        for (irq, desc) in found {
            do {
                out.descriptors.append(try descriptor(irq: irq, at: desc, layout: layout, cpus: cpus, nCPU: nCPU,
                                                      offsets: offsets, budget: budget, warnings: &out.warnings))
            } catch {
                out.warnings.append(WalkWarning(address: desc, message: "IRQ \(irq): cannot read the irq_desc: \(error)"))
            }
        }
        return out
    }

    private func descriptor(irq: UInt64, at desc: UInt64, layout: InterruptLayout, cpus: [Int], nCPU: Int,
                            offsets: [UInt64]?, budget: WalkBudget, warnings: inout [WalkWarning]) throws -> InterruptDescriptor {
        let d = try readObject(at: desc, covering: [layout.chip, layout.action, layout.affinity, layout.kstat])
        var chip: String?
        if let c = d.unsigned(layout.chip), c != 0 {
            let name = try readObject(at: c, covering: [layout.chipName]).unsigned(layout.chipName) ?? 0
            chip = name == 0 ? nil : ((try? memory.readCString(name, limit: 256)) ?? "?")
        }
        let first = d.unsigned(layout.action) ?? 0
        var names: [String] = []
        var seen = Set<UInt64>()
        var a = first
        while a != 0 {
            guard seen.insert(a).inserted else {
                warnings.append(WalkWarning(address: a, message: "IRQ \(irq): irqaction \(hex(a)) met twice (a cycle)"))
                break
            }
            guard budget.take() else {
                if budget.keepWarning("walk budget") {
                    warnings.append(WalkWarning(address: a, message: "IRQ \(irq): " + budget.spentMessage(entries: names.count, reserve: 0)))
                }
                break
            }
            do {
                let b = try readObject(at: a, covering: [layout.actionNext, layout.actionName])
                let name = b.unsigned(layout.actionName) ?? 0
                // A nameless action is a chained handler's placeholder (chained_action): no name to list, as drgn.
                if name != 0 { names.append((try? memory.readCString(name, limit: 256)) ?? "?") }
                a = b.unsigned(layout.actionNext) ?? 0
            } catch {
                warnings.append(WalkWarning(address: a, message: "IRQ \(irq): cannot read the irqaction: \(error)"))
                break
            }
        }
        // The affinity mask: a pointer (CONFIG_CPUMASK_OFFSTACK) or the cpumask itself.
        let mask = layout.affinity.type.isPointer ? (d.unsigned(layout.affinity) ?? 0) : desc &+ UInt64(layout.affinity.offset)
        var affinity: [Int]?
        if mask != 0 {
            let words = (nCPU + 63) / 64
            if let bytes = try? memory.readVirtual(mask, count: words * 8) {
                var list: [Int] = []
                for cpu in 0..<nCPU where bytes[cpu / 8] & UInt8(1 << (cpu % 8)) != 0 { list.append(cpu) }
                affinity = list
            }
        }
        var counts: [(cpu: Int, count: UInt64)] = []
        if let k = d.unsigned(layout.kstat), k != 0, let offsets {
            for cpu in cpus {
                guard let at = try? perCPUAddress(k &+ layout.kstatCount, cpu: cpu, offsets: offsets),
                      let b = try? memory.readVirtual(at, count: 4) else { continue }
                counts.append((cpu: cpu, count: UInt64(b[0]) | UInt64(b[1]) << 8 | UInt64(b[2]) << 16 | UInt64(b[3]) << 24))
            }
        }
        return InterruptDescriptor(irq: irq, desc: desc, chip: chip, action: first, actionNames: names,
                                   affinity: affinity, counts: counts)
    }
}
