/// A read of memory that the image or the page tables cannot satisfy.
public enum MemoryError: Error, CustomStringConvertible, Equatable {
    /// No segment of the image holds this physical address.
    case physicalNotPresent(address: UInt64, image: String)
    /// The address is present in the image's map but the page was left out
    /// of the dump (filtered by makedumpfile, or a zero page).
    case pageExcluded(address: UInt64, image: String)
    /// No mapping for this virtual address.
    case virtualNotMapped(address: UInt64, reason: String)
    /// The image itself is damaged where the read went.
    case corrupt(address: UInt64, detail: String)

    public var description: String {
        switch self {
        case let .physicalNotPresent(address, image):
            return "cannot read physical address \(hex(address)): not present in \(image)"
        case let .pageExcluded(address, image):
            return "cannot read physical address \(hex(address)): page excluded from \(image)"
        case let .virtualNotMapped(address, reason):
            return "cannot access memory at address \(hex(address)): \(reason)"
        case let .corrupt(address, detail):
            return "cannot read address \(hex(address)): \(detail)"
        }
    }
}
