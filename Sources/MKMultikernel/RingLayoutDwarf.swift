import MKDebugInfo

extension RingLayout {
    /// The payload structs, console and vsock headers looked up by tag.
    static let dwarfStructNames = ["mk_message", "mktty_message", "virtio_vsock_hdr", "mk_io_irq_payload",
                                   "mk_cpu_resource_payload", "mk_mem_resource_payload", "mk_device_resource_payload",
                                   "mk_resource_ack", "mk_shutdown_payload"]

    /// The ring as the kernel's own DWARF lays it out (`struct
    /// mk_shared_data`, `struct mk_ipi_data`, `struct mk_message` and the
    /// payload structs), with the names of types and subtypes (C macros,
    /// absent from DWARF) taken from `tables`, a layout file's era. Nil when
    /// the DWARF has no `struct mk_shared_data` (a kernel without
    /// multikernel support, like the lab's Debian kernels).
    public static func fromDebugInfo(_ d: DebugInfo, tables: RingLayout) throws -> RingLayout? {
        guard let shared = d.findType("struct mk_shared_data"), shared.resolved.kind == .structure else { return nil }
        let source = "DWARF of \(d.vmlinux.path)"
        func fail(_ m: String) -> MultikernelError { .badFormat(d.vmlinux.path, detail: "struct mk_shared_data: \(m)") }
        guard let ringSize = shared.byteSize.map(Int.init) else { throw fail("no size") }

        // head/tail/entries are in `ring` (struct mk_ipi_ring); look through it.
        var ringType = shared
        var ringOffset = 0
        if let (m, off) = shared.member(named: "ring") {
            ringType = m.type
            ringOffset = Int(off)
        }
        func index(_ name: String) throws -> Spot {
            guard let (m, off) = ringType.member(named: name) else { throw fail("no member ring.\(name)") }
            let (size, signed) = integer(m.type)
            return Spot(offset: ringOffset + Int(off), size: size, signed: signed)
        }
        guard let (entries, entriesOff) = ringType.member(named: "entries"), entries.type.resolved.kind == .array,
              let slotType = entries.type.resolved.target, let count = entries.type.resolved.count,
              let slotSize = slotType.byteSize else {
            throw fail("no fixed-size array ring.entries")
        }
        func slotField(_ name: String) throws -> Spot {
            guard let (m, off) = slotType.member(named: name) else { throw fail("struct mk_ipi_data has no member \(name)") }
            let (size, signed) = integer(m.type)
            return Spot(offset: Int(off), size: size, signed: signed)
        }
        guard let (buffer, bufferOff) = slotType.member(named: "buffer"), let bufferSize = buffer.type.byteSize else {
            throw fail("struct mk_ipi_data has no sized member buffer")
        }

        var layout = RingLayout(era: "dwarf", source: source, ringSize: ringSize, slotCount: Int(count),
                                head: try index("head"), tail: try index("tail"), entriesOffset: ringOffset + Int(entriesOff),
                                slotSize: Int(slotSize), senderCpu: try slotField("sender_cpu"), type: try slotField("type"),
                                dataSize: try slotField("data_size"), bufferOffset: Int(bufferOff), bufferSize: Int(bufferSize))
        layout.summary = "from the kernel's DWARF; type and subtype names from era \(tables.era)"
        layout.rank = tables.rank
        if let (m, off) = shared.member(named: "force_halt") {
            let (size, signed) = integer(m.type)
            layout.forceHalt = Spot(offset: Int(off), size: size, signed: signed)
        }
        if let (m, off) = shared.member(named: "parked"), let size = m.type.byteSize {
            layout.parkedOffset = Int(off)
            layout.parkedSize = Int(size)
        }
        layout.slotTypes = tables.slotTypes
        layout.subtypes = tables.subtypes
        layout.enums = tables.enums
        layout.structs = tables.structs
        for name in Set(dwarfStructNames + Array(tables.structs.keys)).sorted() {
            guard let t = d.findType("struct \(name)"), t.resolved.kind == .structure, let size = t.byteSize else { continue }
            layout.structs[name] = messageStruct(name: name, type: t.resolved, size: Int(size), like: tables.structs[name])
        }
        let problems = layout.problems()
        if !problems.isEmpty { throw fail("unusable layout: " + problems.joined(separator: "; ")) }
        return layout
    }

    /// Size and signedness of an integer member; `atomic_t` is a struct
    /// holding one `int counter`.
    static func integer(_ type: CType) -> (Int, Bool) {
        let r = type.resolved
        if r.kind == .structure, r.members.count == 1, let only = r.members.first { return integer(only.type) }
        return (Int(r.byteSize ?? 0), r.isSigned)
    }

    /// A struct's members as decodable fields; display hints (names,
    /// hex) and the trailer come from the same struct in a layout file.
    static func messageStruct(name: String, type: CType, size: Int, like known: MessageStruct?) -> MessageStruct {
        var st = MessageStruct(name: name, size: size, fields: [])
        for m in type.members {
            guard let mname = m.name, m.bitSize == nil else { continue }
            let r = m.type.resolved
            let offset = Int(m.offset)
            if let trailer = known?.trailerName, trailer == mname {
                st.trailerName = mname
                st.trailerOffset = offset
                continue
            }
            if r.kind == .array && (r.count ?? 0) == 0 {
                // A flexible array member: the variable part.
                st.trailerName = mname
                st.trailerOffset = offset
                continue
            }
            let kind: MessageStruct.Kind
            let fieldSize = Int(r.byteSize ?? 0)
            if r.isInteger && [1, 2, 4, 8].contains(fieldSize) {
                kind = r.isSigned ? .signed : .unsigned
            } else if r.kind == .array, let e = r.target?.resolved, e.byteSize == 1, e.name?.contains("char") == true {
                kind = .chars
            } else {
                kind = .bytes
            }
            guard fieldSize > 0 else { continue }
            let hint = known?.field(mname)
            st.fields.append(MessageStruct.Field(name: mname, offset: offset, size: fieldSize, kind: kind,
                                                 names: hint?.names, hex: hint?.hex ?? false))
        }
        if st.trailerOffset == nil, let known, let t = known.trailerOffset, t == known.size {
            // Data follows the struct (a vsock header's packet data).
            st.trailerName = known.trailerName
            st.trailerOffset = size
        }
        return st
    }
}
