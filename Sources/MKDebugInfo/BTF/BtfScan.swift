#if canImport(Glibc)
import Glibc
#endif
import MKMemory

/// Finding the kernel's .BTF without `__start_BTF`: a kallsyms without data
/// symbols (no CONFIG_KALLSYMS_ALL) does not name it, but the section sits in
/// the image's read-only data after the kallsyms tables (which VMCOREINFO
/// does name). A candidate must have a whole, consistent header, parse with
/// every id and name checked, and describe `struct task_struct`.
extension BtfTypes {
    /// How far past the start the section may be (6.1 arm64: 2.2 MiB past kallsyms_names).
    static let scanWindow: UInt64 = 64 << 20
    static let scanChunk = 1 << 20

    public static func scan(memory: KernelMemory, from start: UInt64?, image: String) throws -> (types: BtfTypes, address: UInt64) {
        guard let start else {
            throw BtfError.notFound("no __start_BTF in kallsyms (a kernel without CONFIG_KALLSYMS_ALL), and neither VMCOREINFO's kallsyms_names nor _etext to scan from")
        }
        let source = "\(image) (kernel memory)"
        var rejected: [String] = []
        var at = start
        let end = start &+ scanWindow
        var chunk = [UInt8](repeating: 0, count: scanChunk + 24)
        while at < end, end > start {
            let ok = chunk.withUnsafeMutableBytes { memory.readVirtualSkippingHoles(at, into: $0) }
            if ok {
                for offset in magicOffsets(chunk, limit: scanChunk) {
                    let address = at &+ UInt64(offset)
                    switch candidate(chunk, offset) {
                    case let .failure(why):
                        if rejected.count < 4 { rejected.append("0x\(String(address, radix: 16)): \(why)") }
                    case let .success(length):
                        do {
                            let bytes = try memory.readVirtual(address, count: length)
                            let types = BtfTypes(file: try BtfFile(bytes: bytes, source: "\(source) at 0x\(String(address, radix: 16))"))
                            guard let task = types.findType("struct task_struct"), (task.byteSize ?? 0) >= 1024,
                                  task.memberNames.contains("comm"), task.memberNames.contains("tasks") else {
                                throw BtfError.malformed(source: source, offset: 0, detail: "it has no struct task_struct with comm and tasks")
                            }
                            return (types, address)
                        } catch {
                            if rejected.count < 4 { rejected.append("0x\(String(address, radix: 16)): \(error)") }
                        }
                    }
                }
            }
            let (next, overflow) = at.addingReportingOverflow(UInt64(scanChunk))
            if overflow { break }
            at = next
        }
        throw BtfError.notFound("no __start_BTF in kallsyms (a kernel without CONFIG_KALLSYMS_ALL), and no BTF header in the \(scanWindow >> 20) MiB of read-only data after 0x\(String(start, radix: 16))"
                                + (rejected.isEmpty ? "" : " (rejected: " + rejected.joined(separator: "; ") + ")"))
    }

    /// Offsets below `limit` where the little-endian magic and version 1 start.
    static func magicOffsets(_ bytes: [UInt8], limit: Int) -> [Int] {
        var found: [Int] = []
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var from = 0
            while from < limit, found.count < 64 {
                guard let hit = memchr(base + from, 0x9f, limit - from) else { break }
                let offset = base.distance(to: UnsafeRawPointer(hit))
                if offset + 3 < raw.count, raw[offset + 1] == 0xeb, raw[offset + 2] == 1, raw[offset + 3] == 0 { found.append(offset) }
                from = offset + 1
            }
        }
        return found
    }

    /// The blob's whole length when the header at `offset` is the kernel's shape:
    /// 24 bytes, types right after it, strings right after the types.
    static func candidate(_ bytes: [UInt8], _ offset: Int) -> Result<Int, ScanReject> {
        guard offset + 24 <= bytes.count else { return .failure(ScanReject("header cut off")) }
        func u32(_ at: Int) -> UInt64 {
            UInt64(bytes[offset + at]) | UInt64(bytes[offset + at + 1]) << 8 | UInt64(bytes[offset + at + 2]) << 16 | UInt64(bytes[offset + at + 3]) << 24
        }
        let header = u32(4), typeOffset = u32(8), typeLength = u32(12), stringOffset = u32(16), stringLength = u32(20)
        guard header == 24, typeOffset == 0, stringOffset == typeLength, typeLength > 0, stringLength > 0 else {
            return .failure(ScanReject("header length \(header), types at \(typeOffset)+\(typeLength), strings at \(stringOffset)+\(stringLength): not a kernel's BTF header"))
        }
        let total = 24 + typeLength + stringLength
        guard total <= maxBytes else { return .failure(ScanReject("\(total) bytes, more than \(maxBytes >> 20) MiB")) }
        return .success(Int(total))
    }

    struct ScanReject: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
