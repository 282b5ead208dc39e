import Testing
import Foundation

/// `dev` on the lab's dumps: the majors every x86-64 kernel registers at
/// boot (devices.txt's numbers), and a chrdevs chain made to loop.
@Suite(.serialized) struct DevTests {
    static func chr(_ o: [String: Any]) -> [[String: Any]] { o["chrdevs"] as? [[String: Any]] ?? [] }

    @Test(arguments: ["running", "panicked"]) func theBootMajorsAreThere(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let o = try KernelTests.json(fx.elf, ["dev"])[0]
        #expect(o["ok"] as? Bool == true, "\(o)")
        let devs = Self.chr(o)
        func find(_ major: Int, _ minor: Int) -> [String: Any]? {
            devs.first { $0["major"] as? Int == major && $0["baseminor"] as? Int == minor }
        }
        #expect(find(1, 0)?["name"] as? String == "mem" && find(1, 0)?["operations_symbol"] as? String == "memory_fops")
        #expect(find(5, 1)?["name"] as? String == "/dev/console" && find(4, 64)?["name"] as? String == "ttyS")
        #expect(find(10, 0)?["name"] as? String == "misc" && find(10, 0)?["operations_symbol"] as? String == "misc_fops")
        #expect(devs.map { $0["major"] as? Int ?? -1 } == devs.map { $0["major"] as? Int ?? -1 }.sorted())
        let blk = o["blkdevs"] as? [[String: Any]] ?? []
        #expect(blk.contains { $0["major"] as? Int == 259 && $0["name"] as? String == "blkext" }, "\(blk)")
    }

    /// mem's char_device_struct made to point at itself: one warning naming it, the rest listed.
    @Test func aLoopingChainEndsWithAWarning() throws {
        let fx = try LabFixture.load("running")
        let before = try KernelTests.json(fx.elf, ["dev"])[0]
        let mem = try #require(Self.chr(before).first { $0["name"] as? String == "mem" }?["address"] as? String)
        let address = try #require(UInt64(mem.dropFirst(2), radix: 16))
        let damaged = try DamagedDump(fx, name: "dev-loop")
        defer { damaged.remove() }
        try damaged.write(address, atVirtual: address)  // next is the first member
        let (r, o) = try HostileWalkTests.run(damaged.path, ["dev"])
        #expect(r.status == 0 && r.seconds < 10)
        guard o.count == 1 else { return }
        let w = HostileWalkTests.warnings(o[0])
        #expect(w.contains { $0.contains("chrdevs[1]: struct char_device_struct \(mem) is reached a second time (a cycle)") }, "\(w)")
        #expect(Self.chr(o[0]).count == Self.chr(before).count)
    }
}
