import MKFormat
import MKMemory
import MKDebugInfo

/// One swap area (`struct swap_info_struct`) as crash's `swap` shows it.
public struct SwapDevice: Equatable {
    public var info: UInt64
    /// Its index in `swap_info[]` (the swap type of its entries).
    public var index: Int
    public var flags: UInt64
    public var priority: Int64
    /// Usable pages (`pages`) and those in use (`inuse_pages`).
    public var pages: UInt64
    public var inUse: UInt64
    public var file: UInt64
    /// `d_path` of `swap_file->f_path`.
    public var path: String
    /// The swap file's inode is a block device (crash's and /proc/swaps' "partition").
    public var isPartition: Bool

    /// SWP_USED, SWP_WRITEOK: in use, and open for new pages (swapoff clears the latter first).
    public static let used: UInt64 = 1, writeOK: UInt64 = 2
}

/// The swap areas found and what went wrong finding them.
public struct SwapDevices {
    public var devices: [SwapDevice] = []
    public var warnings: [WalkWarning] = []
}

extension Kernel {
    /// The areas of `swap_info[0 ..< nr_swapfiles]` with SWP_USED set. Each
    /// spends one step of `budget`; nr_swapfiles above the array's length
    /// (MAX_SWAPFILES) is reported and cut there.
    public func swapDevices(budget: WalkBudget) throws -> SwapDevices {
        let arrayType = try object("swap_info").type.resolved
        guard let length = arrayType.count, length > 0, length <= 64 else {
            throw KernelError.unsupportedLayout(what: "swap_info", message: "swap_info is not an array of swap_info_struct pointers")
        }
        let array = try address(of: "swap_info")
        var count = UInt64(try memory.readVirtual(address(of: "nr_swapfiles"), count: 4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        var out = SwapDevices()
        if count > length {
            out.warnings.append(WalkWarning(address: try address(of: "nr_swapfiles"),
                                            message: "nr_swapfiles is \(count), more than swap_info[]'s \(length); only \(length) are read"))
            count = length
        }
        let si = try type("struct swap_info_struct")
        // inuse_pages is an unsigned int to 6.12, an atomic_long_t in later kernels.
        let fields = [try field("flags", in: si), try field("prio", in: si), try field("pages", in: si),
                      try optionalField("inuse_pages.counter", in: si) ?? field("inuse_pages", in: si), try field("swap_file", in: si)]
        let file = try type("struct file")
        let fPath = try field("f_path", in: file), fInode = try field("f_inode", in: file)
        let iMode = try field("i_mode", in: type("struct inode"))
        let paths = try DentryPathLayout(self)
        guard count > 0 else { return out }
        let pointers = try memory.readVirtual(array, count: Int(count) * 8)
        for i in 0..<Int(count) {
            var p: UInt64 = 0
            for b in (0..<8).reversed() { p = p << 8 | UInt64(pointers[i * 8 + b]) }
            if p == 0 { continue }
            guard budget.take() else {
                if budget.keepWarning("walk budget") {
                    out.warnings.append(WalkWarning(address: p, message: budget.spentMessage(entries: out.devices.count, reserve: 0)))
                }
                break
            }
            do {
                let b = try readObject(at: p, covering: fields)
                let flags = b.unsigned(fields[0]) ?? 0
                guard flags & SwapDevice.used != 0 else { continue }
                let swapFile = b.unsigned(fields[4]) ?? 0
                var path = "", partition = false
                if swapFile != 0 {
                    let inode = try readObject(at: swapFile, covering: [fInode]).unsigned(fInode) ?? 0
                    if inode != 0 {
                        let mode = try readObject(at: inode, covering: [iMode]).unsigned(iMode) ?? 0
                        partition = mode & 0o170000 == 0o060000
                    }
                    let d = try self.path(at: swapFile &+ UInt64(fPath.offset), layout: paths, budget: budget)
                    path = d.path
                    out.warnings += d.warnings
                }
                out.devices.append(SwapDevice(info: p, index: i, flags: flags, priority: b.signed(fields[1]) ?? 0,
                                              pages: b.unsigned(fields[2]) ?? 0, inUse: b.unsigned(fields[3]) ?? 0,
                                              file: swapFile, path: path, isPartition: partition))
            } catch {
                out.warnings.append(WalkWarning(address: p, message: "swap_info[\(i)]: cannot read the swap_info_struct: \(error)"))
            }
        }
        return out
    }
}
