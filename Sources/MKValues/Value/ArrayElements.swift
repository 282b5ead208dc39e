import MKFormat

/// An array value's elements by index, as byte slices: cut from a computed
/// value's bytes, or read from memory 64 KiB at a time so that printing and
/// looking for repeats do not read element by element. Nil when an element
/// cannot be had this way (too large, past the bytes, unreadable, or the
/// print's read allowance spent): the caller falls back to an lvalue.
struct ArrayElements {
    static let windowBytes: UInt64 = 64 << 10

    let value: Value
    let count: UInt64
    let elementSize: UInt64
    let memory: ValueMemory
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    private var windowCount: UInt64 = 0

    init(value: Value, count: UInt64, elementSize: UInt64, memory: ValueMemory) {
        self.value = value
        self.count = count
        self.elementSize = elementSize
        self.memory = memory
    }

    mutating func bytes(_ i: UInt64, _ budget: ValueFormatter.Budget) throws -> ArraySlice<UInt8>? {
        guard i < count else { return nil }
        switch value.location {
        case .computed:
            let (start, o1) = i.multipliedReportingOverflow(by: elementSize)
            let (end, o2) = start.addingReportingOverflow(elementSize)
            guard !o1, !o2, end <= UInt64(value.bytes.count) else { return nil }
            return value.bytes[Int(start)..<Int(end)]
        case let .memory(address):
            guard elementSize <= Self.windowBytes else { return nil }
            if i < windowStart || i - windowStart >= windowCount {
                guard budget.scanBytes > 0 else { return nil }
                guard try load(from: i, address) else { return nil }
                budget.scanBytes -= window.count
            }
            let start = Int((i - windowStart) * elementSize)
            return window[start..<(start + Int(elementSize))]
        }
    }

    /// Reads the window starting at element `i`; one element alone when the
    /// whole window is not readable. False when even that fails.
    private mutating func load(from i: UInt64, _ address: UInt64) throws -> Bool {
        let n = min(count - i, max(1, Self.windowBytes / elementSize))
        for attempt in n == 1 ? [UInt64(1)] : [n, 1] {
            do {
                window = try memory.readVirtual(address &+ i &* elementSize, count: Int(attempt * elementSize))
                windowStart = i
                windowCount = attempt
                return true
            } catch let e as Interrupted {
                throw e
            } catch {
                continue
            }
        }
        windowCount = 0
        return false
    }
}
