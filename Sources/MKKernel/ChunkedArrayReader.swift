import MKFormat
import MKMemory

/// Reads an array of fixed-size elements in kernel memory in big chunks
/// (one `readVirtual` for many elements), for sequential walks over large
/// rings. A chunk that cannot be read whole falls back to element-by-element
/// reads, so one unreadable page costs only the elements on it.
final class ChunkedArrayReader {
    let memory: KernelMemory
    let base: UInt64
    let elementSize: Int
    let count: Int
    let chunkElements: Int

    private var chunkStart = -1
    private var chunk: [UInt8] = []
    /// nil when the chunk could not be read whole.
    private var chunkReadable = false

    init(memory: KernelMemory, base: UInt64, elementSize: Int, count: Int, chunkBytes: Int = 1 << 20) {
        self.memory = memory
        self.base = base
        self.elementSize = elementSize
        self.count = count
        chunkElements = max(1, min(count, chunkBytes / max(1, elementSize)))
    }

    /// The address of element `i`.
    func address(of i: Int) -> UInt64 { base &+ UInt64(i) &* UInt64(elementSize) }

    /// Calls `body` with element `i`'s bytes; throws when they cannot be read.
    func withElement<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard i >= 0 && i < count else {
            throw KernelError.outOfRange(value: i >= 0 ? UInt64(i) : nil, maximum: count > 0 ? UInt64(count - 1) : nil, message: "element \(i) is outside the array of \(count) at \(hex(base))")
        }
        let start = i - i % chunkElements
        if start != chunkStart {
            chunkStart = start
            let n = min(chunkElements, count - start)
            do {
                chunk = try memory.readVirtual(address(of: start), count: n * elementSize)
                chunkReadable = true
            } catch {
                chunk = []
                chunkReadable = false
            }
        }
        if chunkReadable {
            let at = (i - start) * elementSize
            return try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[at..<(at + elementSize)])) }
        }
        let bytes = try memory.readVirtual(address(of: i), count: elementSize)
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
