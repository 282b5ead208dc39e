import MKMultikernel

/// The inbox ring decoder (`channels`, `inbox`) over synthetic ring bytes.
/// Rings are 17-264 KiB, mostly slot buffers, so the input is compact:
/// byte 0 picks the layout (low bits) and whether the ring is cut short
/// (bit 7); the next `entries` bytes are the ring's head, tail and
/// padding; then each chunk of up to 320 bytes is the start of the next
/// slot (indices, type, data_size, then the message buffer).
struct InboxRingFuzz: FuzzTarget {
    static let name = "inbox"
    static let chunk = 320
    let layouts: [RingLayout]

    init() {
        let found = RingLayoutStore(directories: [projectRoot + "/symbols/layouts"]).all()
        layouts = found.layouts.sorted { $0.era < $1.era }
        if layouts.isEmpty { fail("no ring layouts in \(projectRoot)/symbols/layouts: \(found.problems)") }
    }

    func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let layout = layouts[Int(first & 0x7f) % layouts.count]
        var ring = [UInt8](repeating: 0, count: layout.ringSize)
        var at = 1
        let header = min(layout.entriesOffset, data.count - at)
        for i in 0..<header { ring[i] = data[at + i] }
        at += header
        var slot = 0
        while at < data.count && slot < layout.slotCount {
            let n = min(Self.chunk, layout.slotSize, data.count - at)
            let base = layout.slotOffset(slot)
            for i in 0..<n where base + i < ring.count { ring[base + i] = data[at + i] }
            at += n
            slot += 1
        }
        if first & 0x80 != 0 { ring.removeLast(ring.count / 2) }
        for consumed in [false, true] {
            let parsed = InboxRing.parse(ring, layout: layout, includeConsumed: consumed, instanceNames: [0: "host", 1: "web"])
            for s in parsed.slots { _ = (s.message?.summary, s.problems) }
        }
    }
}
