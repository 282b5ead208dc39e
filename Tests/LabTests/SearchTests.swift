import Testing
import Foundation

/// `search` on the lab's dumps: the guest's kmsg marker where its bytes are,
/// the same places in the ELF and kdump images, and the options' bounds.
@Suite(.serialized) struct SearchTests {
    static func hits(_ o: [String: Any]) -> [UInt64] {
        (o["hits"] as? [String] ?? []).compactMap { UInt64($0.dropFirst(2), radix: 16) }
    }

    @Test(arguments: ["running", "panicked"]) func theMarkerIsWhereItsBytesAre(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let c = "-c \"\(fx.marker)\""
        let o = try KernelTests.json(fx.elf, ["search \(c)", "search -p \(c)", "p/x page_offset_base"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let virtual = Self.hits(o[0]), physical = Self.hits(o[1])
        let base = try #require(o[2]["integer"] as? UInt64)
        #expect(!virtual.isEmpty && virtual == physical.map { base + $0 }, "\(virtual) \(physical)")
        let bytes = try KernelTests.json(fx.elf, virtual.map { "x/\(fx.marker.utf8.count)xb \(String(format: "0x%llx", $0))" })
        for b in bytes {
            let values = (b["rows"] as? [[String: Any]] ?? []).flatMap { $0["values"] as? [String] ?? [] }.compactMap { UInt8($0.dropFirst(2), radix: 16) }
            #expect(values == Array(fx.marker.utf8), "\(b)")
        }
        // The kdump image holds the same pages (dump level 1 drops only zero pages).
        #expect(Self.hits(try KernelTests.json(fx.kdump, ["search \(c)"])[0]) == virtual)
        // Bounds: nothing above the last hit, the first one from itself; -m 1 stops at one.
        let last = try #require(virtual.last), first = try #require(virtual.first)
        let bounded = try KernelTests.json(fx.elf, ["search -s \(String(format: "0x%llx", last + 1)) \(c)",
                                                    "search -s \(String(format: "0x%llx", first)) -e \(String(format: "0x%llx", first + 64)) \(c)",
                                                    "search -m 1 \(c)", "search -w 0x100000000", "search -h 0xffff -m 5"])
        #expect(Self.hits(bounded[0]).isEmpty && Self.hits(bounded[1]) == [first])
        #expect(Self.hits(bounded[2]).count == 1 && (bounded[2]["truncated"] as? Bool == true) == (virtual.count > 1))
        #expect(bounded[3]["ok"] as? Bool == false)
        #expect(Self.hits(bounded[4]).count == 5 && Self.hits(bounded[4]).allSatisfy { $0 % 2 == 0 })
        let text = try runMkdbg(["-c", fx.elf, "-e", "search \(c)"]).out
        #expect(text.hasPrefix(String(virtual[0], radix: 16) + ": " + fx.marker), "\(text)")
    }
}
