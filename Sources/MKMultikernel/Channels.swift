import MKFormat
import MKDebugInfo

/// One kernel's inbox as `channels` shows it: where it is and how that was
/// learnt, what it was read through, and the ring decoded (or why not).
public struct Channel {
    /// `host`, or the instance's name.
    public var name: String
    public var id: Int?
    public var phys: UInt64?
    public var size: UInt64?
    /// `ipi_buffer`, `mk_instance.ipi_phys`, `none` (no inbox) or `unknown`.
    public var addressSource: String
    /// The image the ring was read from, for people.
    public var readThrough: String?
    /// The memory may change under the read (a running instance's kcore).
    public var live = false
    public var ring: InboxRing?
    /// Problems with finding or reading the ring (the ring's own are in `ring`).
    public var problems: [String] = []
    public var notes: [String] = []
    /// Why the layout is what it is (`the kernel's DWARF has no struct mk_shared_data`).
    public var layoutReason: String?

    public var allProblems: [String] { problems + (ring?.problems ?? []) }
}

/// Finds and decodes the inboxes of the host and of each instance.
public final class ChannelCollector {
    public struct Options {
        /// `host` or an instance name; nil for every channel.
        public var only: String?
        /// Also the consumed slots still in memory.
        public var includeConsumed = false
        /// `--layout ERA|FILE`.
        public var layoutName: String?
        public init(only: String? = nil, includeConsumed: Bool = false, layoutName: String? = nil) {
            self.only = only
            self.includeConsumed = includeConsumed
            self.layoutName = layoutName
        }
    }

    public let kernfs: Kernfs
    public var layouts: RingLayoutStore
    /// Opens an instance for reading (InstanceOpener by default; the
    /// session passes its current target through here).
    public var open: (Instance) throws -> Target
    var opened: [String: Result<Target, Error>] = [:]
    var hostImage: Result<CoreImage, Error>?
    var hostAddresses: Result<InboxAddresses, Error>?

    public init(kernfs: Kernfs, layouts: RingLayoutStore = .standard(), open: ((Instance) throws -> Target)? = nil) {
        self.kernfs = kernfs
        self.layouts = layouts
        self.open = open ?? { try InstanceOpener.open($0, kernfs: kernfs).target }
    }

    public func collect(_ options: Options) throws -> [Channel] {
        try kernfs.requireMounted()
        let instances = try kernfs.instances()
        if let only = options.only, only != "host", !instances.contains(where: { $0.name == only }) {
            throw MultikernelError.unknownInstance(only, known: ["host"] + instances.map { $0.name })
        }
        // The tables (and, without DWARF, the offsets) come from a layout file.
        var fileLayout: RingLayout?
        var fileLayoutError: String?
        do {
            fileLayout = try options.layoutName.map { try layouts.layout(named: $0) } ?? layouts.newest()
        } catch {
            if options.layoutName != nil { throw error }
            fileLayoutError = "\(error)"
        }
        let report = try? ResourceReport.collect(kernfs)
        let owners = report.map(CpuOwners.init(report:))
        // Console ids are instance ids (0, in host-to-spawn input, names no console).
        var names: [Int: String] = [:]
        for i in instances { if let id = i.id, id != 0 { names[id] = i.name } }

        var channels: [Channel] = []
        if options.only == nil || options.only == "host" {
            var c = Channel(name: "host", id: 0, addressSource: "unknown")
            locate(&c, file: kernfs.mount + "/ipi_buffer", instanceName: nil)
            channels.append(c)
        }
        for inst in instances where options.only == nil || options.only == inst.name {
            var c = Channel(name: inst.name, id: inst.id, addressSource: "unknown")
            locate(&c, file: inst.directory + "/ipi_buffer", instanceName: inst.name)
            channels.append(c)
        }
        for i in channels.indices where channels[i].phys != nil {
            read(&channels[i], instances: instances, fileLayout: fileLayout, fileLayoutError: fileLayoutError,
                 options: options, names: names)
        }
        if owners == nil {
            for i in channels.indices { channels[i].notes.append("the kernfs resources could not be read: senders are named by CPU only") }
        }
        self.owners = owners
        return channels
    }

    /// The CPU → kernel map of the last `collect` (nil when the kernfs
    /// resources could not be read).
    public private(set) var owners: CpuOwners?

    /// From the `ipi_buffer` file; without one, from the host kernel's memory.
    func locate(_ c: inout Channel, file: String, instanceName: String?) {
        guard KernfsFile.exists(file) else {
            locateInHostMemory(&c, file: file, instanceName: instanceName)
            return
        }
        do {
            let (phys, size) = try KernfsFile.physAndSize(file)
            locate(&c, phys: phys, size: size, source: "ipi_buffer")
        } catch {
            c.problems.append("inbox address unknown: \(error)")
        }
    }

    func locate(_ c: inout Channel, phys: UInt64, size: UInt64?, source: String) {
        c.addressSource = source
        if phys == 0 {
            c.addressSource = "none"
            c.notes.append(source == "ipi_buffer" ? "no inbox: ipi_buffer reads \"0 0\" (no kernel loaded)" : "no inbox: \(source) is 0")
            return
        }
        c.phys = phys
        c.size = size == 0 ? nil : size
    }

    /// Without an `ipi_buffer` file: `mk_instance.ipi_phys` from the host
    /// kernel's memory, when its vmlinux is at hand.
    func locateInHostMemory(_ c: inout Channel, file: String, instanceName: String?) {
        let addresses = hostAddresses ?? Result(catching: {
            guard KernfsFile.exists(kernfs.hostKcorePath) else {
                throw MultikernelError.missingFile(kernfs.hostKcorePath, purpose: "the host kernel's memory")
            }
            // The same host image the rings are read through: opened once.
            return try InboxAddresses.read(from: try Target(image: try hostImageResult().get()))
        })
        hostAddresses = addresses
        switch addresses {
        case let .success(a):
            let phys = instanceName.map { a.instances[$0] ?? nil } ?? a.host
            guard let phys else {
                c.problems.append("inbox address unknown: no \(file), and the host kernel's mk_instance_list has no \(instanceName ?? "mk_self") record"
                                  + (a.warnings.isEmpty ? "" : " (" + a.warnings.joined(separator: "; ") + ")"))
                return
            }
            locate(&c, phys: phys, size: a.size, source: "mk_instance.ipi_phys")
        case let .failure(error):
            c.problems.append("inbox address unknown: no \(file), and the host kernel's memory cannot tell it (\(error))")
        }
    }

    /// The host's kcore, opened on first use.
    func hostImageResult() -> Result<CoreImage, Error> {
        let result = hostImage ?? Result(catching: { try ImageOpener.open(kernfs.hostKcorePath) })
        hostImage = result
        return result
    }

    /// Finds an image mapping the ring, picks the layout, reads and decodes.
    func read(_ c: inout Channel, instances: [Instance], fileLayout: RingLayout?, fileLayoutError: String?,
              options: Options, names: [Int: String]) {
        guard let phys = c.phys else { return }
        let want = c.size ?? UInt64(fileLayout?.ringSize ?? 0)
        // The instance's own kcore first, then any other that maps the ring,
        // then the host's /proc/kcore.
        var candidates = instances.filter { $0.name == c.name }
        candidates += instances.filter { $0.name != c.name }
        var reader: (image: CoreImage, target: Target?, label: String, live: Bool)?
        var tried: [String] = []
        for inst in candidates where inst.status.hasKernel {
            guard let target = target(for: inst, tried: &tried) else { continue }
            if covers(target.image, phys, max(want, 1)) {
                reader = (target.image, target, "\(inst.name)'s kcore (\(target.image.path))",
                          inst.status == .active && inst.isFrozen != true)
                break
            }
            tried.append("\(inst.name)'s kcore does not map it")
        }
        if reader == nil, KernfsFile.exists(kernfs.hostKcorePath) {
            switch hostImageResult() {
            case let .success(image):
                if covers(image, phys, max(want, 1)) { reader = (image, nil, "the host's kcore (\(image.path))", true) }
                else { tried.append("\(image.path) does not map it") }
            case let .failure(e): tried.append("\(kernfs.hostKcorePath): \(e)")
            }
        }
        guard let reader else {
            c.problems.append("no image maps the ring at \(hex(phys)): " + (tried.isEmpty ? "no instance runs a kernel and there is no host kcore" : tried.joined(separator: "; ")))
            return
        }
        c.readThrough = reader.label
        c.live = reader.live

        // DWARF first, else --layout, else the newest file.
        var layout: RingLayout?
        let chosen = options.layoutName != nil ? "--layout \(options.layoutName!)" : "the newest era"
        if let target = reader.target, target.vmlinux != nil, let tables = fileLayout {
            do {
                if let l = try RingLayout.fromDebugInfo(try target.requireDebugInfo(), tables: tables) {
                    layout = l
                    if options.layoutName != nil { c.notes.append("--layout \(options.layoutName!) not used: the kernel's DWARF describes the ring") }
                } else {
                    c.layoutReason = "the kernel's DWARF has no struct mk_shared_data; \(chosen)"
                }
            } catch {
                c.layoutReason = "the kernel's DWARF could not give the layout (\(error)); \(chosen)"
            }
        } else if fileLayout != nil {
            c.layoutReason = (reader.target == nil ? "read without a vmlinux" : "no vmlinux for \(reader.label)") + "; \(chosen)"
        }
        if layout == nil { layout = fileLayout }
        guard let layout else {
            c.problems.append("no ring layout: the kernel's DWARF has none and " + (fileLayoutError ?? "no layout file was found"))
            return
        }
        var count = layout.ringSize
        if let size = c.size, size < UInt64(count) {
            c.problems.append("the ring of layout \(layout.era) takes \(count) bytes but the inbox is \(size) bytes: wrong era? (--layout)")
            count = Int(size)
        }
        do {
            let bytes = try reader.image.readPhysical(phys, count: count)
            c.ring = InboxRing.parse(bytes, layout: layout, includeConsumed: options.includeConsumed, instanceNames: names)
        } catch {
            c.problems.append("cannot read the ring at \(hex(phys)) through \(reader.label): \(error)")
        }
    }

    func target(for inst: Instance, tried: inout [String]) -> Target? {
        let result = opened[inst.name] ?? Result(catching: { try open(inst) })
        opened[inst.name] = result
        switch result {
        case let .success(t): return t
        case let .failure(e):
            tried.append("\(inst.name): \(e)")
            return nil
        }
    }

    func covers(_ image: CoreImage, _ start: UInt64, _ size: UInt64) -> Bool {
        image.physicalRanges.contains { $0.start <= start && start &+ size <= $0.end }
    }
}
