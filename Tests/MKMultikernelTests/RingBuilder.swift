import Foundation
import MKFormat
@testable import MKMultikernel

/// Synthetic inbox rings: the bytes of a `struct mk_shared_data` of any
/// layout, filled the way producers fill them (claim, fill, publish).
struct RingBuilder {
    let layout: RingLayout
    var bytes: [UInt8]

    init(layout: RingLayout, size: Int? = nil) {
        self.layout = layout
        bytes = [UInt8](repeating: 0, count: size ?? layout.ringSize)
    }

    static var projectRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static var store: RingLayoutStore { RingLayoutStore(directories: [projectRoot + "/symbols/layouts"]) }

    static func layout(_ era: String) throws -> RingLayout { try store.layout(named: era) }

    mutating func put(_ value: UInt64, at offset: Int, size: Int) {
        for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    mutating func put(_ spot: RingLayout.Spot, _ value: Int64, base: Int = 0) {
        put(UInt64(bitPattern: value), at: base + spot.offset, size: spot.size)
    }

    mutating func indices(head: Int64, tail: Int64) {
        put(layout.head, head)
        put(layout.tail, tail)
    }

    /// Fills slot `index`; `published: false` leaves data_size 0 (claimed only).
    mutating func slot(_ index: Int, sender: Int64, type: UInt64, buffer: [UInt8], published: Bool = true, dataSize: UInt64? = nil) {
        let base = layout.slotOffset(index)
        put(layout.senderCpu, sender, base: base)
        put(layout.type, Int64(bitPattern: type), base: base)
        let start = base + layout.bufferOffset
        for (i, b) in buffer.prefix(layout.bufferSize).enumerated() { bytes[start + i] = b }
        put(layout.dataSize, published ? Int64(dataSize ?? UInt64(buffer.count)) : 0, base: base)
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// What mk_send_message() puts in a buffer: the 24-byte header (payload
    /// at 20) and the payload; the sender sends 24 + payload_len bytes.
    static func message(_ type: UInt32, _ subtype: UInt32, _ payload: [UInt8] = [], id: UInt64 = 0, payloadLen: UInt32? = nil) -> [UInt8] {
        var b = le(type) + le(subtype) + le(id) + le(payloadLen ?? UInt32(payload.count)) + payload
        while b.count < 24 + payload.count { b.append(0) }
        return b
    }

    static func console(_ kind: UInt32, id: UInt32, _ text: String, len: UInt32? = nil) -> [UInt8] {
        let data = Array(text.utf8)
        return le(kind) + le(id) + le(len ?? UInt32(data.count)) + le(UInt32(0)) + data
    }

    static func ack(operation: UInt32, result: Int32, resource: UInt64) -> [UInt8] {
        le(operation) + le(UInt32(bitPattern: result)) + le(resource)
    }

    static func cpu(_ id: UInt64, node: UInt32 = 0, flags: UInt32 = 0, sender: Int32 = 0) -> [UInt8] {
        le(id) + le(node) + le(flags) + le(sender) + [0, 0, 0, 0]
    }

    static func vsock(src: UInt64, dst: UInt64, srcPort: UInt32, dstPort: UInt32, op: UInt16, data: String) -> [UInt8] {
        let d = Array(data.utf8)
        return le(src) + le(dst) + le(srcPort) + le(dstPort) + le(UInt32(d.count)) + le(UInt16(1)) + le(op)
            + le(UInt32(0)) + le(UInt32(65536)) + le(UInt32(128)) + d
    }
}

/// Physical memory held in arrays: what a kcore that maps the inboxes reads.
final class MemoryImage: CoreImage {
    let path: String
    let formatName = "test memory"
    let notes: [ElfNote] = []
    var chunks: [(start: UInt64, bytes: [UInt8])]

    init(path: String, chunks: [(UInt64, [UInt8])]) {
        self.path = path
        self.chunks = chunks.map { (start: $0.0, bytes: $0.1) }.sorted { $0.start < $1.start }
    }

    var physicalRanges: [PhysicalRange] { chunks.map { PhysicalRange(start: $0.start, size: UInt64($0.bytes.count)) } }

    func report() -> ImageReport { ImageReport() }

    func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let c = chunks.first(where: { address >= $0.start && address - $0.start + UInt64(buffer.count) <= UInt64($0.bytes.count) }) else {
            throw MemoryError.physicalNotPresent(address: address, image: path)
        }
        let off = Int(address - c.start)
        for i in 0..<buffer.count { buffer[i] = c.bytes[off + i] }
    }
}
