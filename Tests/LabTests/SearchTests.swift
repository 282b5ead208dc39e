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

    /// `search -u`: the SysV shm segment mk-ipc attached holds the string mk_ipc.c wrote at its
    /// start, at the VMA `vm` lists for it; the same bytes are in physical memory at a page start.
    @Test(arguments: ["running", "panicked"]) func userSpaceSearchFindsTheShmText(_ name: String) throws {
        let fx = try LabFixture.load(name)
        guard let pid = try Self.pid(fx, "mk-ipc") else { return }  // a guest built without gcc has no mk-ipc
        let needle = "mkdbg lab shm"
        let o = try KernelTests.json(fx.elf, ["vm \(pid)", "search -u -t \(pid) -c \"\(needle)\"", "search -p -c \"\(needle)\"",
                                              "search -u -t 2 -c x", "search -u -p -c x"])
        let vmas = o[0]["vmas"] as? [[String: Any]] ?? []
        let shm = try #require(vmas.first { ($0["path"] as? String)?.hasPrefix("/SYSV6d6b6462") == true }, "\(vmas)")
        let start = try #require((shm["start"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
        let user = Self.hits(o[1])
        #expect(o[1]["user"] as? Bool == true && o[1]["pid"] as? Int == pid, "\(o[1])")
        #expect(user.contains(start), "\(user.map { String($0, radix: 16) }) lacks the shm VMA at \(String(start, radix: 16))")
        #expect(user.allSatisfy { $0 < 0x8000_0000_0000 }, "user addresses")
        #expect(Self.hits(o[2]).contains { $0 & 0xfff == 0 }, "no page-aligned physical copy: \(o[2])")
        // A kernel thread has no user space; -u and -p exclude each other.
        #expect(o[3]["ok"] as? Bool == false && o[4]["ok"] as? Bool == false)
        // Bounds: from one byte past the VMA's start the hit there is gone.
        let after = try KernelTests.json(fx.elf, ["search -u -t \(pid) -s \(String(format: "0x%llx", start + 1)) -c \"\(needle)\""])
        #expect(!Self.hits(after[0]).contains(start) && Self.hits(after[0]).count == user.filter { $0 > start }.count)
    }

    static func pid(_ fx: LabFixture, _ comm: String) throws -> Int? {
        let data = try #require(FileManager.default.contents(atPath: fx.directory + "/facts.json"))
        let facts = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (facts["pids"] as? [String: Any])?[comm] as? Int
    }
}
