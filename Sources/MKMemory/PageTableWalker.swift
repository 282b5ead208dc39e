import MKFormat

/// One step of a page-table walk: the level, the table entry's physical
/// address and its value.
public struct PageTableStep: Sendable, Equatable {
    public var level: String
    public var entryAddress: UInt64
    public var entry: UInt64
}

/// The result of translating one virtual address.
public struct Translation: Sendable, Equatable {
    public enum Method: String, Sendable { case kernelText = "kernel text map", directMap = "direct map", pageTables = "page tables", image = "image segment" }
    public var virtual: UInt64
    public var physical: UInt64
    /// Size of the page that maps it (4 KiB, 2 MiB or 1 GiB).
    public var pageSize: UInt64
    public var method: Method
    public var steps: [PageTableStep]
}

/// An architecture's page-table walk: virtual → physical through the
/// tables in physical memory, with the entries read on the way.
public protocol PageTableWalker {
    func translate(_ va: UInt64) throws -> Translation
}
