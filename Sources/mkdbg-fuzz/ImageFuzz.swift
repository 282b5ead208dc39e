import MKFormat
import MKMemory

/// Image opening (ELF core, kdump, flattened kdump) through `ImageOpener`,
/// then what `info image` and the first reads of a session do.
struct ImageFuzz: FuzzTarget {
    static let name = "image"
    let file = MemFile("mkdbg-fuzz-image")

    func run(_ data: [UInt8]) {
        file.set(data)
        guard let image = try? ImageOpener.open(file.path) else { return }
        _ = image.report()
        _ = image.prStatus
        let ranges = image.physicalRanges
        for r in ranges.prefix(4) {
            _ = try? image.readPhysical(r.start, count: 64)
            _ = try? image.readPhysical(r.end &- 16, count: 32)  // across the end
        }
        // An address the input chooses: its last 8 bytes.
        if data.count >= 8 {
            let a = data.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            _ = try? image.readPhysical(a, count: 4096)
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        for v in image.virtualRanges.prefix(2) { buffer.withUnsafeMutableBytes { _ = try? image.readVirtualDirect(v.start, into: $0) } }
        guard let memory = try? KernelMemory(image: image) else { return }
        let info = image.vmcoreInfo
        for name in ["init_uts_ns", "init_top_pgt", "swapper_pg_dir", "_stext"] {
            guard let va = info?.symbol(name) else { continue }
            _ = try? memory.translate(va)
            _ = try? memory.readVirtual(va, count: 64)
        }
        _ = try? memory.readCString(0xffff_ffff_8100_0000, limit: 64)
        _ = try? memory.walk(0xffff_8880_0000_0000)
    }
}
