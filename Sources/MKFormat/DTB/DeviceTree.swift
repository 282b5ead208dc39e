/// A flattened device tree (DTB), read through libfdt: the multikernel's
/// pool, instance and boot trees.
public struct DeviceTree: Equatable {
    public struct Property: Equatable {
        public var name: String
        public var value: [UInt8]

        /// Big-endian u32 cells.
        public var cells: [UInt32] {
            guard value.count % 4 == 0 else { return [] }
            var result: [UInt32] = []
            var i = 0
            while i + 4 <= value.count {
                var v: UInt32 = 0
                for j in 0..<4 { v = v << 8 | UInt32(value[i + j]) }
                result.append(v)
                i += 4
            }
            return result
        }

        /// Big-endian u64 values (pairs of cells).
        public var u64s: [UInt64] {
            guard value.count % 8 == 0 else { return [] }
            var result: [UInt64] = []
            var i = 0
            while i + 8 <= value.count {
                var v: UInt64 = 0
                for j in 0..<8 { v = v << 8 | UInt64(value[i + j]) }
                result.append(v)
                i += 8
            }
            return result
        }

        public var u32: UInt32? { value.count == 4 ? cells.first : nil }
        public var u64: UInt64? { value.count == 8 ? u64s.first : nil }

        /// NUL-separated strings, when the value is nothing else.
        public var strings: [String]? {
            guard let last = value.last, last == 0, value.count > 0 else { return nil }
            var result: [String] = []
            var current: [UInt8] = []
            for b in value.dropLast() {
                if b == 0 {
                    if current.isEmpty { return nil }
                    result.append(String(decoding: current, as: UTF8.self))
                    current = []
                } else if b < 0x20 || b > 0x7e {
                    return nil
                } else {
                    current.append(b)
                }
            }
            if current.isEmpty { return nil }
            result.append(String(decoding: current, as: UTF8.self))
            return result
        }

        public var string: String? { strings?.first }
    }

    public struct Node: Equatable {
        public var name: String
        public var properties: [Property]
        public var children: [Node]

        public func property(_ name: String) -> Property? { properties.first { $0.name == name } }
        public func child(_ name: String) -> Node? { children.first { $0.name == name } }

        /// Children whose name is `base` or starts with `base@`.
        public func children(named base: String) -> [Node] {
            children.filter { $0.name == base || $0.name.hasPrefix(base + "@") }
        }
    }

    public var root: Node
    public var reserved: [(address: UInt64, size: UInt64)]

    public static func == (a: DeviceTree, b: DeviceTree) -> Bool {
        a.root == b.root && a.reserved.map { [$0.address, $0.size] } == b.reserved.map { [$0.address, $0.size] }
    }

    /// Parses a DTB; a malformed blob is a `FormatError` naming `source`,
    /// the header field's offset or libfdt's reason.
    public init(blob: [UInt8], source: String) throws {
        _ = try FdtHeader(blob, source: source)
        if let problem = LibFdt.check(blob) {
            throw FormatError(.corrupt, file: source, offset: 0, "not a valid device tree blob: \(problem)")
        }
        let (raw, reserved) = LibFdt.tree(blob)
        func convert(_ r: LibFdt.RawNode) -> Node {
            Node(name: r.name, properties: r.properties.map { Property(name: $0.0, value: $0.1) },
                 children: r.children.map(convert))
        }
        self.root = convert(raw)
        self.reserved = reserved.map { (address: $0.0, size: $0.1) }
    }

    public init(path: String) throws {
        let source = try FileSource(path: path)
        // kernfs reports 1 MiB or 0 as the size: read to EOF, bounded.
        var blob: [UInt8] = []
        var at: UInt64 = 0
        while blob.count < 1 << 22 {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = try source.readAvailable(at: at, into: &chunk)
            if n == 0 { break }
            blob += chunk[0..<n]
            at += UInt64(n)
        }
        try self.init(blob: blob, source: path)
    }

    /// The node at a path like `/resources/memory@0`.
    public func node(at path: String) -> Node? {
        var n = root
        for part in path.split(separator: "/") {
            guard let c = n.child(String(part)) else { return nil }
            n = c
        }
        return n
    }

    /// DTS text in dtc's `-O dts` style: strings quoted, cells as
    /// `<0x..>`, other data as `[..]`.
    public var dts: String {
        var out = "/dts-v1/;\n\n"
        for r in reserved { out += "/memreserve/ 0x\(String(r.address, radix: 16).leftPadded(16)) 0x\(String(r.size, radix: 16).leftPadded(16));\n" }
        Self.render(root, depth: 0, into: &out)
        return out
    }

    static func render(_ node: Node, depth: Int, into out: inout String) {
        let indent = String(repeating: "\t", count: depth)
        out += indent + (depth == 0 ? "/" : node.name) + " {\n"
        for p in node.properties {
            out += indent + "\t" + p.name
            if !p.value.isEmpty { out += " = " + valueText(p) }
            out += ";\n"
        }
        for (i, c) in node.children.enumerated() {
            if i > 0 || !node.properties.isEmpty { out += "\n" }
            render(c, depth: depth + 1, into: &out)
        }
        out += indent + "};\n"
    }

    static func valueText(_ p: Property) -> String {
        if let strings = p.strings { return strings.map { "\"" + $0 + "\"" }.joined(separator: ", ") }
        if p.value.count % 4 == 0 {
            return "<" + p.cells.map { "0x" + String($0, radix: 16).leftPadded(2) }.joined(separator: " ") + ">"
        }
        return "[" + p.value.map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ") + "]"
    }
}
