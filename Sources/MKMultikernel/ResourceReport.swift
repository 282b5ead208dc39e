import MKFormat
import MKSystem

/// The machine's resources as the kernfs describes them: the pool (root
/// device tree) and each instance's CPUs, memory regions (exact, from
/// `/proc/iomem`), devices and aliases (instance device trees), with the
/// conflicts found between them.
public struct ResourceReport {
    public struct Region: Equatable {
        public var start: UInt64
        public var size: UInt64
        public var end: UInt64 { start &+ size }
    }

    public struct Device: Equatable {
        public var name: String
        public var kind: String
        public var detail: String
    }

    public struct Pool {
        public var cpus: [UInt64] = []
        public var cpusAvailable: [UInt64] = []
        public var memory: [Region] = []
        public var devices: [Device] = []
        /// Pool memory /proc/iomem shows in use outside the instances
        /// (`daxfs`: /dev/dma_heap/multikernel buffers).
        public var buffers: [Buffer] = []
    }

    public struct Buffer: Equatable {
        public var name: String
        public var region: Region
    }

    public struct InstanceResources {
        public var name: String
        public var id: Int?
        public var status: InstanceStatus
        public var cpus: [UInt64] = []
        /// From /proc/iomem when listed there, else the device tree's base/bytes.
        public var regions: [Region] = []
        public var regionsFromIomem = false
        public var treeMemoryBase: UInt64?
        public var treeMemoryBytes: UInt64?
        public var devices: [Device] = []
        public var aliases: [(String, String)] = []
    }

    public var pool: Pool?
    public var instances: [InstanceResources] = []
    public var problems: [String] = []

    public static func collect(_ kernfs: Kernfs) throws -> ResourceReport {
        var report = ResourceReport()
        if let tree = try? kernfs.poolTree(), let res = tree.node(at: "/resources") {
            var pool = Pool()
            pool.cpus = res.property("cpus")?.u64s ?? []
            pool.cpusAvailable = res.property("cpus-available")?.u64s ?? []
            for m in res.children(named: "memory") {
                let reg = m.property("reg")?.u64s ?? []
                if reg.count >= 2 { pool.memory.append(Region(start: reg[0], size: reg[1])) }
                else if let size = m.property("size")?.u64 { pool.memory.append(Region(start: 0, size: size)) }
            }
            pool.devices = devices(in: tree)
            report.pool = pool
        } else {
            report.problems.append("no readable pool tree at \(kernfs.mount)/device_tree")
        }
        let iomem = try? kernfs.iomem()
        if iomem == nil { report.problems.append("no \(kernfs.procDirectory)/iomem: memory regions come from the device trees (base of the first region and total only)") }
        if let iomem, report.pool != nil {
            report.pool?.buffers = iomem.poolBuffers.map { Buffer(name: $0.name, region: Region(start: $0.start, size: $0.size)) }
        }
        for inst in try kernfs.instances() {
            var r = InstanceResources(name: inst.name, id: inst.id, status: inst.status)
            if let tree = try? inst.deviceTree() {
                let res = tree.node(at: "/resources")
                r.cpus = res?.property("cpus")?.u64s ?? []
                r.treeMemoryBase = res?.property("memory-base")?.u64
                r.treeMemoryBytes = res?.property("memory-bytes")?.u64
                r.devices = devices(in: tree)
                r.aliases = (tree.node(at: "/aliases")?.properties ?? []).map { ($0.name, $0.string ?? "") }
            } else {
                report.problems.append("instance \(inst.name): device tree unreadable or malformed")
            }
            if let regions = iomem?.regions(of: inst.name), !regions.isEmpty {
                r.regions = regions.map { Region(start: $0.start, size: $0.size) }
                r.regionsFromIomem = true
                let total = r.regions.reduce(UInt64(0)) { $0 &+ $1.size }
                if let bytes = r.treeMemoryBytes, bytes != total {
                    report.problems.append("instance \(inst.name): device tree says \(bytes) bytes of memory, /proc/iomem lists \(total)")
                }
                if let id = r.id, let other = iomem?.instanceRegions.first(where: { $0.instanceName == inst.name && $0.instanceId != id }) {
                    report.problems.append("instance \(inst.name): /proc/iomem names it with id \(other.instanceId), its id file says \(id)")
                }
            } else if let base = r.treeMemoryBase, let bytes = r.treeMemoryBytes, bytes > 0 {
                r.regions = [Region(start: base, size: bytes)]
            }
            report.instances.append(r)
        }
        report.problems += conflicts(report)
        return report
    }

    static func devices(in tree: DeviceTree) -> [Device] {
        var out: [Device] = []
        for d in tree.node(at: "/resources/devices")?.children ?? [] {
            let type = d.property("device-type")?.string ?? "platform"
            let detail = d.property("pci-id")?.string ?? d.property("device-name")?.string ?? d.property("acpi-hid")?.string ?? ""
            out.append(Device(name: d.name, kind: type, detail: detail))
        }
        func walkPci(_ n: DeviceTree.Node, _ path: String) {
            for c in n.children where c.name.hasPrefix("pci@") {
                if let v = c.property("vendor-id")?.u32, let d = c.property("device-id")?.u32 {
                    out.append(Device(name: path + "/" + c.name, kind: "pci",
                                      detail: String(v, radix: 16).leftPadded(4) + ":" + String(d, radix: 16).leftPadded(4)))
                }
                walkPci(c, path + "/" + c.name)
            }
        }
        walkPci(tree.root, "")
        return out
    }

    static func conflicts(_ r: ResourceReport) -> [String] {
        var problems: [String] = []
        var cpuOwner: [UInt64: String] = [:]
        for i in r.instances where i.status != .empty {
            for c in i.cpus {
                if let other = cpuOwner[c] { problems.append("CPU \(c) is assigned to both \(other) and \(i.name)") }
                cpuOwner[c] = i.name
                if let pool = r.pool, !pool.cpus.isEmpty, !pool.cpus.contains(c) {
                    problems.append("CPU \(c) of \(i.name) is not in the pool's cpus")
                }
                if let pool = r.pool, pool.cpusAvailable.contains(c) {
                    problems.append("CPU \(c) of \(i.name) is also listed as available in the pool")
                }
            }
        }
        let all = r.instances.flatMap { i in i.regions.map { (i.name, $0) } }
        for b in r.pool?.buffers ?? [] {
            for (name, x) in all where x.start < b.region.end && b.region.start < x.end {
                problems.append("pool buffer \(b.name) \(hex(b.region.start))-\(hex(b.region.end)) overlaps \(hex(x.start))-\(hex(x.end)) of \(name)")
            }
        }
        for (a, x) in all.enumerated() {
            for y in all[(a + 1)...] where x.1.start < y.1.end && y.1.start < x.1.end {
                problems.append("memory \(hex(x.1.start))-\(hex(x.1.end)) of \(x.0) overlaps \(hex(y.1.start))-\(hex(y.1.end)) of \(y.0)")
            }
            if let pool = r.pool, pool.memory.contains(where: { $0.start != 0 }),
               !pool.memory.contains(where: { x.1.start >= $0.start && x.1.end <= $0.end }) {
                problems.append("memory \(hex(x.1.start))-\(hex(x.1.end)) of \(x.0) lies outside every pool chunk")
            }
        }
        return problems
    }
}
