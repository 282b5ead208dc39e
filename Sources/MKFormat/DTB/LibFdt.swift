import CFdt

// Every raw libfdt call of the project goes through this file.

enum LibFdt {
    /// Validates a blob completely (header, structure, strings) before any
    /// other libfdt call touches it; returns libfdt's message on failure.
    /// The header must already have passed `FdtHeader`: libfdt 1.6.1 trusts
    /// fields it does not check.
    static func check(_ blob: [UInt8]) -> String? {
        blob.withUnsafeBytes { buf -> String? in
            guard let base = buf.baseAddress, buf.count >= 40 else { return "shorter than an FDT header (40 bytes)" }
            let header = fdt_check_header(base)
            if header != 0 { return String(cString: fdt_strerror(header)) }
            let full = fdt_check_full(base, buf.count)
            if full != 0 { return String(cString: fdt_strerror(full)) }
            return nil
        }
    }

    struct RawNode {
        var name: String
        var properties: [(String, [UInt8])]
        var children: [RawNode]
    }

    /// Reads the whole tree (already validated by `check`), depth-bounded.
    static func tree(_ blob: [UInt8]) -> (RawNode, [(UInt64, UInt64)]) {
        blob.withUnsafeBytes { buf -> (RawNode, [(UInt64, UInt64)]) in
            guard let fdt = buf.baseAddress else { return (RawNode(name: "", properties: [], children: []), []) }
            var reserved: [(UInt64, UInt64)] = []
            let n = fdt_num_mem_rsv(fdt)
            if n > 0 {
                for i in 0..<min(n, 4096) {
                    var a: UInt64 = 0, s: UInt64 = 0
                    if fdt_get_mem_rsv(fdt, i, &a, &s) == 0 { reserved.append((a, s)) }
                }
            }
            return (node(fdt, 0, depth: 0), reserved)
        }
    }

    private static func node(_ fdt: UnsafeRawPointer, _ offset: Int32, depth: Int) -> RawNode {
        var len: Int32 = 0
        let name = fdt_get_name(fdt, offset, &len).map { String(cString: $0) } ?? ""
        var props: [(String, [UInt8])] = []
        var p = fdt_first_property_offset(fdt, offset)
        var guardCount = 0
        while p >= 0 && guardCount < 1 << 16 {
            var plen: Int32 = 0
            var pname: UnsafePointer<CChar>?
            if let data = fdt_getprop_by_offset(fdt, p, &pname, &plen), plen >= 0 {
                let bytes = Array(UnsafeRawBufferPointer(start: data, count: Int(plen)))
                props.append((pname.map { String(cString: $0) } ?? "?", bytes))
            }
            p = fdt_next_property_offset(fdt, p)
            guardCount += 1
        }
        var children: [RawNode] = []
        if depth < 64 {
            var c = fdt_first_subnode(fdt, offset)
            guardCount = 0
            while c >= 0 && guardCount < 1 << 16 {
                children.append(node(fdt, c, depth: depth + 1))
                c = fdt_next_subnode(fdt, c)
                guardCount += 1
            }
        }
        return RawNode(name: name, properties: props, children: children)
    }
}
