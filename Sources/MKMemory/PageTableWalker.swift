import MKFormat

/// One step of a page-table walk: the level, the table entry's physical
/// address and its value.
public struct PageTableStep: Sendable, Equatable {
    public var level: String
    public var entryAddress: UInt64
    public var entry: UInt64

    public init(level: String, entryAddress: UInt64, entry: UInt64) {
        self.level = level
        self.entryAddress = entryAddress
        self.entry = entry
    }
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

/// What one page-table entry says, decoded by its architecture.
public struct PageTableEntryInfo: Sendable, Equatable {
    /// Flag names set in the entry, low bit first (`PRESENT`, `RW`, … `NX`).
    public var flags: [String]
    /// The next table's or the page's physical address the entry holds.
    public var address: UInt64
    /// Whether the entry maps a page (rather than pointing to a table).
    public var isLeaf: Bool
    /// Size of the page a leaf maps.
    public var pageSize: UInt64?

    public init(flags: [String], address: UInt64, isLeaf: Bool, pageSize: UInt64?) {
        self.flags = flags
        self.address = address
        self.isLeaf = isLeaf
        self.pageSize = pageSize
    }
}

/// Every entry a walk read, and where it ended.
public struct PageTableWalk: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case mapped(physical: UInt64, pageSize: UInt64)
        /// The address is outside the paging mode's canonical range.
        case nonCanonical(bits: Int)
        /// The last step's entry is not present.
        case notPresent(level: String)
    }
    public var virtual: UInt64
    /// Physical address of the top-level table.
    public var root: UInt64
    public var steps: [PageTableStep]
    public var outcome: Outcome

    public init(virtual: UInt64, root: UInt64, steps: [PageTableStep], outcome: Outcome) {
        self.virtual = virtual
        self.root = root
        self.steps = steps
        self.outcome = outcome
    }

    /// The translation, or a typed error naming the address and the level that stopped the walk.
    public func requireMapped() throws -> Translation {
        switch outcome {
        case let .mapped(physical, pageSize):
            return Translation(virtual: virtual, physical: physical, pageSize: pageSize, method: .pageTables, steps: steps)
        case let .nonCanonical(bits):
            throw PageTableWalkError.nonCanonical(address: virtual, bits: bits)
        case let .notPresent(level):
            let last = steps.last
            throw PageTableWalkError.notPresent(address: virtual, level: level, entryAddress: last?.entryAddress ?? 0,
                                                entry: last?.entry ?? 0)
        }
    }
}

/// Why a page-table walk found no page.
public enum PageTableWalkError: Error, CustomStringConvertible, Equatable {
    case nonCanonical(address: UInt64, bits: Int)
    case notPresent(address: UInt64, level: String, entryAddress: UInt64, entry: UInt64)

    public var address: UInt64 {
        switch self {
        case let .nonCanonical(a, _), let .notPresent(a, _, _, _): return a
        }
    }

    public var description: String {
        switch self {
        case let .nonCanonical(address, bits):
            return "cannot access memory at address \(hex(address)): not a canonical \(bits)-bit address"
        case let .notPresent(address, level, entryAddress, entry):
            return "cannot access memory at address \(hex(address)): \(level) entry \(hex(entry)) at physical \(hex(entryAddress)) is not present"
        }
    }

    /// The same failure as a memory read reports it.
    public var memoryError: MemoryError {
        switch self {
        case let .nonCanonical(address, bits):
            return .notCanonical(address: address, bits: bits)
        case let .notPresent(address, level, entryAddress, entry):
            return .pageNotPresent(address: address, level: level, entry: entry, entryAddress: entryAddress)
        }
    }
}

/// An architecture's page-table walk: virtual → physical through the
/// tables in physical memory, with the entries read on the way.
public protocol PageTableWalker {
    /// Every entry read for `va`; throws only when an entry cannot be read.
    func walk(_ va: UInt64) throws -> PageTableWalk
    /// What `entry`, read at `level` (a step's level name), says.
    func decode(_ entry: UInt64, level: String) -> PageTableEntryInfo
}

extension PageTableWalker {
    public func translate(_ va: UInt64) throws -> Translation {
        do {
            return try walk(va).requireMapped()
        } catch let e as PageTableWalkError {
            throw e.memoryError
        }
    }
}
