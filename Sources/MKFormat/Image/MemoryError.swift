/// A read of memory that the image or the page tables cannot satisfy.
public enum MemoryError: Error, CustomStringConvertible, Equatable {
    /// No segment of the image holds this physical address.
    case physicalNotPresent(address: UInt64, image: String)
    /// The address is present in the image's map but the page was left out
    /// of the dump (filtered by makedumpfile, or a zero page).
    case pageExcluded(address: UInt64, image: String)
    /// No mapping for this virtual address.
    case virtualNotMapped(address: UInt64, reason: String)
    /// The page-table walk met an entry without its present bit: the level
    /// (`pgd`, `pmd`, …), the entry and where it is (physical).
    case pageNotPresent(address: UInt64, level: String, entry: UInt64, entryAddress: UInt64)
    /// Not a canonical address for the paging mode's `bits` of virtual address.
    case notCanonical(address: UInt64, bits: Int)
    /// The virtual address translates (by `method`: text map, direct map, page tables)
    /// to physical memory that cannot be read.
    indirect case mappedUnreadable(address: UInt64, method: String, physical: MemoryError)
    /// The image itself is damaged where the read went.
    case corrupt(address: UInt64, detail: String)

    public var description: String {
        switch self {
        case let .physicalNotPresent(address, image):
            return "cannot read physical address \(hex(address)): not present in \(image)"
        case let .pageExcluded(address, image):
            return "cannot read physical address \(hex(address)): page excluded from \(image)"
        case let .virtualNotMapped(address, _), let .pageNotPresent(address, _, _, _), let .notCanonical(address, _),
             let .mappedUnreadable(address, _, _):
            return "cannot access memory at address \(hex(address)): \(virtualReason ?? "")"
        case let .corrupt(address, detail):
            return "cannot read address \(hex(address)): \(detail)"
        }
    }

    /// Why a virtual address cannot be read (nil for the physical cases).
    public var virtualReason: String? {
        switch self {
        case let .virtualNotMapped(_, reason): return reason
        case let .pageNotPresent(_, level, entry, entryAddress):
            return "\(level) entry \(hex(entry)) at physical \(hex(entryAddress)) is not present"
        case let .notCanonical(_, bits): return "not a canonical \(bits)-bit address"
        case let .mappedUnreadable(_, method, physical): return "\(method) maps it to \(physical)"
        case .physicalNotPresent, .pageExcluded, .corrupt: return nil
        }
    }
}
