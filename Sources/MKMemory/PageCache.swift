import MKFormat

/// A small cache of physical pages in front of an image. Page-table walks and
/// structure reads hit the same few pages again and again; big sequential
/// reads bypass it. Disabled for live targets that are not frozen.
final class PageCache {
    static let pageSize = 4096
    private let capacity: Int
    private var pages: [UInt64: [UInt8]] = [:]
    private var order: [UInt64] = []
    private var next = 0
    var enabled = true

    init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    func page(_ pfn: UInt64, load: () throws -> [UInt8]) rethrows -> [UInt8] {
        if enabled, let hit = pages[pfn] { return hit }
        let bytes = try load()
        guard enabled else { return bytes }
        if order.count < capacity {
            order.append(pfn)
        } else {
            pages[order[next]] = nil
            order[next] = pfn
            next = (next + 1) % capacity
        }
        pages[pfn] = bytes
        return bytes
    }

    func clear() {
        pages.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        next = 0
    }
}
