import MKFormat

/// ELF note sections (PRSTATUS, VMCOREINFO, ...) and the registers of each
/// NT_PRSTATUS note.
struct NotesFuzz: FuzzTarget {
    static let name = "notes"

    func run(_ data: [UInt8]) {
        guard let notes = try? ElfNote.parse(data, file: "fuzz", base: 0x1000) else { return }
        for note in notes {
            if let status = PrStatus(note: note) { _ = (status.pid, status.registers["rip"]) }
            if note.name == "VMCOREINFO" { _ = VmcoreInfo(text: String(decoding: note.descriptor, as: UTF8.self)).pageSize }
        }
    }
}
