import MKFormat

/// One instance under `instances/<name>/`: the upstream files (id, status,
/// device_tree) and the debug files mkdbg adds (kcore, vmcoreinfo, freeze,
/// events, ipi_buffer), each optional.
public struct Instance {
    public let name: String
    public let directory: String

    public init(name: String, directory: String) {
        self.name = name
        self.directory = directory
    }

    func file(_ leaf: String) -> String { directory + "/" + leaf }

    public var id: Int? {
        (try? KernfsFile.text(file("id"))).flatMap { Int($0.split(separator: "\n").first ?? "") }
    }

    public var status: InstanceStatus {
        (try? KernfsFile.text(file("status"))).map(InstanceStatus.init(text:)) ?? .unknown
    }

    public func deviceTree() throws -> DeviceTree {
        try DeviceTree(path: file("device_tree"))
    }

    public var kcorePath: String? { KernfsFile.exists(file("kcore")) ? file("kcore") : nil }

    /// The kernel's architecture as its kcore's `e_machine` names it (`arm64`); nil without a
    /// kernel, a kcore or a readable ELF header. Only the header is read.
    public var architecture: String? {
        guard status.hasKernel, let path = kcorePath, let source = try? FileSource(path: path),
              let header = try? ElfHeader(source: source) else { return nil }
        return ElfMachine.name(header.machine) ?? "ELF machine \(header.machine)"
    }

    public var freezePath: String { file("freeze") }
    public var eventsPath: String { file("events") }
    public var canFreeze: Bool { KernfsFile.exists(freezePath) && KernfsFile.exists(eventsPath) }

    /// `events` says every CPU is stopped; nil without the file.
    public var isFrozen: Bool? {
        guard let text = try? KernfsFile.text(eventsPath) else { return nil }
        return text.contains("frozen 1")
    }

    public var vmcoreInfoLocation: (phys: UInt64, size: UInt64)? {
        try? KernfsFile.physAndSize(file("vmcoreinfo"))
    }

    public var ipiBuffer: (phys: UInt64, size: UInt64)? {
        try? KernfsFile.physAndSize(file("ipi_buffer"))
    }
}
