/// `/proc/iomem`: nested physical ranges. The multikernel pool shows as
/// `Multikernel Memory Pool` with children `mk-instance-<id>-<name>-region-<n>`.
public struct IomemMap {
    public struct Entry: Equatable {
        public var start: UInt64
        public var end: UInt64   // inclusive, as iomem prints
        public var name: String
        public var depth: Int
        public var size: UInt64 { end &- start &+ 1 }
    }

    public struct InstanceRegion: Equatable {
        public var instanceId: Int
        public var instanceName: String
        public var index: Int
        public var start: UInt64
        public var size: UInt64
    }

    public let entries: [Entry]

    public init(text: String) {
        var entries: [Entry] = []
        for line in text.split(separator: "\n") {
            let depth = line.prefix { $0 == " " }.count / 2
            let body = line.drop { $0 == " " }
            guard let colon = body.firstRange(of: " : ") else { continue }
            let range = body[..<colon.lowerBound].split(separator: "-")
            guard range.count == 2, let a = UInt64(range[0], radix: 16), let b = UInt64(range[1], radix: 16), b >= a else { continue }
            entries.append(Entry(start: a, end: b, name: String(body[colon.upperBound...]), depth: depth))
        }
        self.entries = entries
    }

    public var pools: [Entry] { entries.filter { $0.name == "Multikernel Memory Pool" } }

    /// Every `mk-instance-<id>-<name>-region-<n>` line.
    public var instanceRegions: [InstanceRegion] {
        entries.compactMap { e in
            guard e.name.hasPrefix("mk-instance-") else { return nil }
            let rest = e.name.dropFirst("mk-instance-".count)
            guard let dash = rest.firstIndex(of: "-"), let id = Int(rest[..<dash]),
                  let regionMark = rest.ranges(of: "-region-").last,
                  let index = Int(rest[regionMark.upperBound...]) else { return nil }
            let name = String(rest[rest.index(after: dash)..<regionMark.lowerBound])
            return InstanceRegion(instanceId: id, instanceName: name, index: index, start: e.start, size: e.size)
        }
    }

    /// Pool children that are not instance regions: `daxfs` buffers the
    /// `/dev/dma_heap/multikernel` heap allocated (downstream trees), or
    /// anything else a driver inserted under the pool.
    public var poolBuffers: [Entry] {
        var out: [Entry] = []
        var pool: Entry?
        for e in entries {
            if e.name == "Multikernel Memory Pool" { pool = e; continue }
            guard let p = pool else { continue }
            if e.depth <= p.depth { pool = nil; continue }
            if e.depth == p.depth + 1 && !e.name.hasPrefix("mk-instance-") { out.append(e) }
        }
        return out
    }

    public func regions(of name: String) -> [InstanceRegion] {
        instanceRegions.filter { $0.instanceName == name }.sorted { $0.index < $1.index }
    }
}

/// A row of `/proc/kimage`: `MK_ID  Type  Start Address  Segments  Mode  Cmdline`.
public struct KimageEntry: Equatable {
    public var id: Int
    public var type: String
    public var start: UInt64
    public var segments: Int
    public var mode: String
    public var cmdline: String

    static func parse(_ text: String) -> [KimageEntry] {
        var rows: [KimageEntry] = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 5, let id = Int(words[0]), words[2].hasPrefix("0x"),
                  let start = UInt64(words[2].dropFirst(2), radix: 16), let segments = Int(words[3]) else { continue }
            var cmdline = ""
            if let q = line.firstIndex(of: "\""), let r = line.lastIndex(of: "\""), q < r {
                cmdline = String(line[line.index(after: q)..<r])
            }
            rows.append(KimageEntry(id: id, type: String(words[1]), start: start, segments: segments, mode: String(words[4]), cmdline: cmdline))
        }
        return rows
    }
}
