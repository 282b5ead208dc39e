import MKFormat

/// Today's-upstream fallback when an instance has no `kcore`: its memory
/// regions (from `/proc/iomem`) read through the host's `/proc/kcore`, with
/// the VMCOREINFO note found by scanning those regions.
public final class InstanceRegionImage: CoreImage {
    public let path: String
    public let formatName = "instance regions via host kcore"
    public let physicalRanges: [PhysicalRange]
    public private(set) var notes: [ElfNote] = []
    /// The host's: a spawn runs on the host's own CPUs, so on its architecture.
    public var elfMachine: UInt16? { host.elfMachine }
    let host: CoreImage
    let instanceName: String
    var foundAt: UInt64?
    /// What the kernel's crash-note buffers held, once looked at.
    public private(set) var crashNotes: CrashNotes?

    public init(host: CoreImage, regions: [IomemMap.InstanceRegion], instanceName: String) throws {
        self.host = host
        self.instanceName = instanceName
        self.path = host.path + " (regions of \(instanceName))"
        self.physicalRanges = regions.map { PhysicalRange(start: $0.start, size: $0.size) }.sorted { $0.start < $1.start }
        if let (note, at) = try VmcoreInfoScanner.scan(self) {
            notes = [note]
            foundAt = at
        }
    }

    public func report() -> ImageReport {
        var r = ImageReport()
        r.facts.append(("format", formatName))
        r.facts.append(("host kcore", host.path))
        r.facts.append(("regions", physicalRanges.map { "\(hex($0.start))+\(hex($0.size))" }.joined(separator: ", ")))
        if let foundAt { r.facts.append(("VMCOREINFO", "found by scanning, at physical \(hex(foundAt))")) }
        r.problems.append("instance \(instanceName) has no kcore file: read through the host's kcore and /proc/iomem (today's upstream)")
        if foundAt == nil { r.problems.append("no VMCOREINFO note found in the instance's memory") }
        if let line = registersLine { r.facts.append(("registers", line)) }
        if let c = crashNotes, c.saved.isEmpty { r.problems.append(Self.noRegisters(instanceName, c)) }
        return r
    }

    /// Takes the registers the instance's CPUs saved as crash notes, as
    /// `NT_PRSTATUS` notes in CPU order (a CPU that saved none before one
    /// that did gets zeros, so a note's index stays its CPU).
    public func adopt(_ c: CrashNotes) {
        crashNotes = c
        guard let last = c.cpus.lastIndex(where: { $0.note != nil }) else { return }
        for cpu in c.cpus[...last] {
            notes.append(cpu.note ?? ElfNote(name: "CORE", type: ElfNote.ntPrStatus,
                                             descriptor: [UInt8](repeating: 0, count: PrStatusLayout.forMachine(elfMachine)?.size ?? 0), offset: 0))
        }
    }

    /// "CPU 0, 1 from ..." when crash notes were found.
    public var registersLine: String? {
        guard let c = crashNotes, !c.saved.isEmpty else { return nil }
        let at = c.saved.compactMap { $0.physical }.map { hex($0) }.joined(separator: ", ")
        return "CPU " + c.saved.map { String($0.cpu) }.joined(separator: ", ")
            + " from the crash notes saved when they stopped (crash_notes, at physical \(at))"
    }

    static func noRegisters(_ name: String, _ c: CrashNotes) -> String {
        let why = c.unavailable ?? "no CPU of \(name) saved crash notes"
        return "no CPU registers: \(why); upstream saves them only when the CPUs stop while a backup instance whose host tree has a vmcore node runs; bt shows each task's saved state"
    }

    public var noRegistersLine: String? {
        guard let c = crashNotes, c.saved.isEmpty else { return nil }
        return Self.noRegisters(instanceName, c)
    }

    public func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let end = checkedAdd(address, UInt64(buffer.count)),
              physicalRanges.contains(where: { address >= $0.start && end <= $0.end }) else {
            throw MemoryError.physicalNotPresent(address: address, image: path)
        }
        try host.readPhysical(address, into: buffer)
    }
}

/// Finds a VMCOREINFO ELF note in memory: at a page start, namesz 11,
/// type 0, name "VMCOREINFO", then `OSRELEASE=` text.
public enum VmcoreInfoScanner {
    static let name = Array("VMCOREINFO\0".utf8)

    public static func scan(_ image: CoreImage, chunk: Int = 1 << 20) throws -> (ElfNote, UInt64)? {
        for range in image.physicalRanges {
            var at = range.start
            while at < range.end {
                if Cancellation.isRequested { return nil }
                let n = Int(min(UInt64(chunk), range.end - at))
                guard let bytes = try? image.readPhysical(at, count: n) else { at &+= UInt64(n); continue }
                var page = 0
                while page + 24 <= bytes.count {
                    if bytes[page] == 11 && bytes[page + 1] == 0 && bytes[page + 2] == 0 && bytes[page + 3] == 0
                        && bytes[page + 8] == 0 && bytes[page + 9] == 0 && bytes[page + 10] == 0 && bytes[page + 11] == 0
                        && Array(bytes[(page + 12)..<(page + 23)]) == name {
                        let descsz = Int(bytes[page + 4]) | Int(bytes[page + 5]) << 8 | Int(bytes[page + 6]) << 16 | Int(bytes[page + 7]) << 24
                        if descsz > 0 && descsz <= 65536,
                           let desc = try? image.readPhysical(at + UInt64(page) + 24, count: descsz),
                           desc.starts(with: Array("OSRELEASE=".utf8)) {
                            return (ElfNote(name: "VMCOREINFO", type: 0, descriptor: desc, offset: at + UInt64(page)), at + UInt64(page))
                        }
                    }
                    page += 4096
                }
                at &+= UInt64(n)
            }
        }
        return nil
    }
}
