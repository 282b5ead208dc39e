import MKFormat
import MKMemory

/// VMCOREINFO text, then the x86-64 layout built from it.
struct VmcoreInfoFuzz: FuzzTarget {
    static let name = "vmcoreinfo"

    func run(_ data: [UInt8]) {
        let info = VmcoreInfo(text: String(decoding: data, as: UTF8.self))
        _ = (info.osRelease, info.buildId, info.pageSize, info.kernelOffset, info.physBase, info.crashTime)
        _ = info.missingKeys(X86_64Layout.vmcoreInfoKeys)
        _ = (info.symbol("init_top_pgt"), info.offset("list_head.next"), info.size("page"), info.length("node_data"))
        _ = try? X86_64Layout(vmcoreInfo: info, imagePath: "fuzz")
    }
}
