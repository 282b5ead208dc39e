/// A range of physical memory an image holds.
public struct PhysicalRange: Equatable, Sendable {
    public var start: UInt64
    public var size: UInt64
    public var end: UInt64 { start &+ size }

    public init(start: UInt64, size: UInt64) {
        self.start = start
        self.size = size
    }

    public func contains(_ address: UInt64) -> Bool {
        address >= start && address - start < size
    }
}

/// A virtual range an image maps directly (kcore-style ELF), with the physical
/// address behind it when the image knows it.
public struct VirtualRange: Equatable, Sendable {
    public var start: UInt64
    public var size: UInt64
    public var physicalStart: UInt64?

    public init(start: UInt64, size: UInt64, physicalStart: UInt64?) {
        self.start = start
        self.size = size
        self.physicalStart = physicalStart
    }

    public func contains(_ address: UInt64) -> Bool {
        address >= start && address - start < size
    }
}

/// Where an image's description in `info image` comes from: ordered
/// key/value facts and the inconsistencies found while opening it.
public struct ImageReport: Sendable {
    public var facts: [(String, String)] = []
    public var problems: [String] = []

    public init() {}
}

/// A memory image: an ELF core (vmcore or kcore) or a kdump-compressed dump.
/// It reads physical memory; kcore-style images also read virtual memory
/// directly. Address translation lives a layer up, in MKMemory.
public protocol CoreImage: AnyObject {
    var path: String { get }
    /// Human name of the format, e.g. "ELF vmcore".
    var formatName: String { get }
    /// The ELF notes the image carries (VMCOREINFO, PRSTATUS, QEMU, ...).
    var notes: [ElfNote] { get }
    /// Physical ranges present, sorted by start.
    var physicalRanges: [PhysicalRange] { get }
    /// Virtual ranges mapped directly (empty unless kcore-style).
    var virtualRanges: [VirtualRange] { get }
    /// Segment list, holes and inconsistencies for `info image`.
    func report() -> ImageReport
    /// The ELF machine (`e_machine`) the dumped kernel ran on, when the
    /// image says; nil when it does not (then x86-64 is assumed).
    var elfMachine: UInt16? { get }

    /// Reads `buffer.count` bytes of physical memory at `address`.
    func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws
    /// Reads virtual memory mapped directly by the image (kcore style).
    func readVirtualDirect(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws
}

extension CoreImage {
    public var virtualRanges: [VirtualRange] { [] }
    public var elfMachine: UInt16? { nil }

    public func readVirtualDirect(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        throw MemoryError.virtualNotMapped(address: address, reason: "\(formatName) maps no virtual addresses")
    }

    public func readPhysical(_ address: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        try bytes.withUnsafeMutableBytes { try readPhysical(address, into: $0) }
        return bytes
    }

    /// The VMCOREINFO note, parsed, when the image has one.
    public var vmcoreInfo: VmcoreInfo? {
        guard let note = notes.first(where: { $0.name == "VMCOREINFO" }) else { return nil }
        return VmcoreInfo(text: String(decoding: note.descriptor, as: UTF8.self))
    }

    /// The `NT_PRSTATUS` notes, one per CPU that saved registers, read
    /// with the layout of the image's machine (none for a machine without one:
    /// another architecture's registers are not read as x86-64's).
    public var prStatus: [PrStatus] {
        PrStatusLayout.forMachine(elfMachine).map { prStatus(layout: $0) } ?? []
    }

    public func prStatus(layout: PrStatusLayout) -> [PrStatus] {
        notes.filter { $0.name == "CORE" && $0.type == ElfNote.ntPrStatus }.compactMap { PrStatus(note: $0, layout: layout) }
    }
}
