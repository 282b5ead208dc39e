import MKFormat
import MKMemory

extension MemoryError {
    /// "cannot read virtual address 0x…: why", naming the first address
    /// that failed (`dump`, `save vmcore`).
    func unreadable(space: String) -> String {
        switch self {
        case let .physicalNotPresent(a, image):
            return "cannot read physical address \(hex(a)): not present in \(image)"
        case let .pageExcluded(a, image):
            return "cannot read physical address \(hex(a)): page excluded from \(image)"
        case let .virtualNotMapped(a, _), let .pageNotPresent(a, _, _, _), let .notCanonical(a, _), let .mappedUnreadable(a, _, _):
            return "cannot read \(space == "physical" ? "physical" : "virtual") address \(hex(a)): \(virtualReason ?? "")"
        case let .corrupt(a, detail):
            return "cannot read \(space == "physical" ? "physical" : "virtual") address \(hex(a)): \(detail)"
        }
    }
}
