/// The multikernel kernfs and the procfs files beside it, under a root
/// directory (`/` on a real host; the lab's directory with `--root`).
public struct Kernfs {
    public let root: String
    public var mount: String { root == "/" ? "/sys/fs/multikernel" : root + "/sys/fs/multikernel" }
    public var procDirectory: String { root == "/" ? "/proc" : root + "/proc" }

    public init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r.isEmpty ? "/" : r
    }

    /// Throws unless the kernfs is there.
    public func requireMounted() throws {
        guard KernfsFile.isDirectory(mount + "/instances") else { throw MultikernelError.notMounted(mount) }
    }

    public func instanceNames() throws -> [String] {
        try requireMounted()
        return KernfsFile.list(mount + "/instances").filter { KernfsFile.isDirectory(mount + "/instances/" + $0) }
    }

    public func instances() throws -> [Instance] {
        try instanceNames().map { Instance(name: $0, directory: mount + "/instances/" + $0) }
    }

    public func instance(_ name: String) throws -> Instance {
        let names = try instanceNames()
        guard names.contains(name) else { throw MultikernelError.unknownInstance(name, known: names) }
        return Instance(name: name, directory: mount + "/instances/" + name)
    }

    /// The pool tree (root `device_tree`).
    public func poolTree() throws -> DeviceTree {
        try requireMounted()
        return try DeviceTree(path: mount + "/device_tree")
    }

    public var hostIpiBuffer: (phys: UInt64, size: UInt64)? {
        try? KernfsFile.physAndSize(mount + "/ipi_buffer")
    }

    public func iomem() throws -> IomemMap {
        IomemMap(text: try KernfsFile.text(procDirectory + "/iomem"))
    }

    public func kimages() throws -> [KimageEntry] {
        KimageEntry.parse(try KernfsFile.text(procDirectory + "/kimage"))
    }

    public var hostKcorePath: String { procDirectory + "/kcore" }
}

import MKFormat
