import Testing
import MKFormat
import MKDebugInfo
@testable import MKValues

/// Memory the test changes between reads, counting the bytes read.
private final class ChangingMemory: ValueMemory {
    var base: UInt64
    var bytes: [UInt8]
    var read = 0
    init(base: UInt64, bytes: [UInt8]) { self.base = base; self.bytes = bytes }
    func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8] {
        guard address >= base, address - base + UInt64(count) <= UInt64(bytes.count) else {
            throw MemoryError.virtualNotMapped(address: address, reason: "outside the test memory")
        }
        read += count
        let start = Int(address - base)
        return Array(bytes[start..<(start + count)])
    }
}

private let u8 = CType.integer("unsigned char", size: 1, signed: false)
private let int = CType.integer("int", size: 4, signed: true)

/// History entries are snapshots, as gdb's: the bytes read when recorded,
/// the address kept for `&$N`, bounded in size.
@Suite struct ValueHistoryTests {
    @Test func entriesKeepTheirBytesAndAddress() throws {
        let memory = ChangingMemory(base: 0x1000, bytes: [7, 0, 0, 0, 9, 0, 0, 0])
        var history = ValueHistory()
        let n = history.record(Value(type: CType.array(of: int, count: 2), address: 0x1000), memory: memory)
        #expect(n == 1)
        memory.bytes = [1, 1, 1, 1, 2, 2, 2, 2]
        let v = try #require(history.lookup(.absolute(1)))
        #expect(v.address == nil && v.snapshotAddress == 0x1000)
        #expect(v.bytes == [7, 0, 0, 0, 9, 0, 0, 0])
        // An element of the entry is cut from the snapshot, and knows where it came from.
        let e = try v.component(CType.Member(name: "x", type: int, offset: 4), offset: 4)
        #expect(try e.integerBits(memory) == 9)
        #expect(e.snapshotAddress == 0x1004)
    }

    @Test func hugeObjectsKeepTheirStartAndUnreadableOnesStayLvalues() throws {
        let size = ValueHistory.snapshotLimit + 4096
        let memory = ChangingMemory(base: 0, bytes: [UInt8](repeating: 5, count: size))
        var history = ValueHistory()
        _ = history.record(Value(type: CType.array(of: u8, count: UInt64(size)), address: 0), memory: memory)
        #expect(history.lookup(.relative(0))?.bytes.count == ValueHistory.snapshotLimit)
        #expect(memory.read == ValueHistory.snapshotLimit)
        _ = history.record(Value(type: int, address: 0x10_0000_0000), memory: memory)
        #expect(history.lookup(.relative(0))?.address == 0x10_0000_0000)
        #expect(history.lookup(.relative(1))?.snapshotAddress == 0)
    }
}
