#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKMultikernel

/// A DTB through `DeviceTree`, its DTS rendering (`dt`), and the resource
/// report (`resources`) over a kernfs whose pool and instance trees are it.
struct DeviceTreeFuzz: FuzzTarget {
    static let name = "dtb"
    let root: String

    init() {
        // scripts/fuzz names a scratch directory and removes it afterwards.
        let scratch = getenv("MKDBG_FUZZ_SCRATCH").map { String(cString: $0) } ?? "/tmp"
        root = scratch + "/mkdbg-fuzz-kernfs-\(getpid())"
        for dir in ["", "/sys", "/sys/fs", "/sys/fs/multikernel", "/sys/fs/multikernel/instances",
                    "/sys/fs/multikernel/instances/web", "/proc"] {
            mkdir(root + dir, 0o755)
        }
        writeFile(root + "/sys/fs/multikernel/instances/web/id", Array("1\n".utf8))
        writeFile(root + "/sys/fs/multikernel/instances/web/status", Array("active\n".utf8))
        writeFile(root + "/proc/iomem", Array("100000000-17fffffff : Multikernel Memory Pool\n  100000000-11fffffff : mk-instance-1-web-region-0\n".utf8))
    }

    func run(_ data: [UInt8]) {
        if let tree = try? DeviceTree(blob: data, source: "fuzz.dtb") {
            _ = tree.dts
            for p in tree.node(at: "/resources")?.properties ?? [] { _ = (p.u64s, p.u32, p.u64, p.strings) }
        }
        writeFile(root + "/sys/fs/multikernel/device_tree", data)
        writeFile(root + "/sys/fs/multikernel/instances/web/device_tree", data)
        _ = try? ResourceReport.collect(Kernfs(root: root))
    }
}
