import Testing
import Foundation
import MKFormat
@testable import MKMultikernel

@Suite struct KernfsTests {
    @Test func instancesAndTheirFiles() throws {
        let k = try FakeKernfs.standard()
        let kernfs = Kernfs(root: k.root)
        #expect(try kernfs.instanceNames() == ["db", "spare", "web"])
        let web = try kernfs.instance("web")
        #expect(web.id == 1)
        #expect(web.status == .active)
        #expect(web.isFrozen == false)
        #expect(web.canFreeze)
        #expect(try kernfs.instance("spare").canFreeze == false)
        #expect(throws: MultikernelError.unknownInstance("nope", known: ["db", "spare", "web"])) { try kernfs.instance("nope") }
        #expect(throws: MultikernelError.notMounted("/nonexistent/sys/fs/multikernel")) { try Kernfs(root: "/nonexistent").instances() }
    }

    @Test func deviceTreesParseAndRenderLikeDtc() throws {
        let k = try FakeKernfs.standard()
        for path in ["sys/fs/multikernel/device_tree", "sys/fs/multikernel/instances/web/device_tree"] {
            let tree = try DeviceTree(path: k.root + "/" + path)
            let ours = tree.dts.filter { !$0.isWhitespace }
            let dtc = try k.dtsOf(path).filter { !$0.isWhitespace }
            #expect(ours == dtc, "\(path):\n\(tree.dts)")
        }
        let web = try DeviceTree(path: k.mount + "/instances/web/device_tree")
        #expect(web.node(at: "/resources")?.property("cpus")?.u64s == [2, 3])
        #expect(web.root.property("model")?.string == "web")
        #expect(web.node(at: "/resources")?.property("memory-base")?.u64 == 0x1_0000_0000)
    }

    @Test func malformedDeviceTreeIsAClearError() throws {
        let k = try FakeKernfs.standard()
        var blob = try Data(contentsOf: URL(fileURLWithPath: k.mount + "/instances/web/device_tree"))
        blob[8] ^= 0xff  // the structure block offset
        try blob.write(to: URL(fileURLWithPath: k.mount + "/instances/web/device_tree"))
        do {
            _ = try DeviceTree(path: k.mount + "/instances/web/device_tree")
            Issue.record("expected an error")
        } catch let e as FormatError {
            #expect(e.description.contains("instances/web/device_tree"))
            #expect(e.description.contains("not a valid device tree blob"))
        }
        #expect(throws: FormatError.self) { try DeviceTree(blob: [1, 2, 3], source: "tiny") }
        #expect(throws: FormatError.self) { try DeviceTree(blob: [], source: "empty") }
    }

    @Test func iomemAndKimage() throws {
        let k = try FakeKernfs.standard()
        let kernfs = Kernfs(root: k.root)
        let iomem = try kernfs.iomem()
        #expect(iomem.pools.count == 1)
        #expect(iomem.regions(of: "web") == [IomemMap.InstanceRegion(instanceId: 1, instanceName: "web", index: 0, start: 0x1_0000_0000, size: 0x2000_0000)])
        // Names may contain dashes; the region suffix is found from the end.
        let tricky = IomemMap(text: "  200000000-2000fffff : mk-instance-7-my-db-2-region-3\n")
        #expect(tricky.instanceRegions.first?.instanceName == "my-db-2")
        #expect(tricky.instanceRegions.first?.index == 3)
        let kimages = try kernfs.kimages()
        #expect(kimages.map(\.id) == [1, 2])
        #expect(kimages.first?.cmdline == "console=ttyS0 role=web")
        #expect(kimages.first?.start == 0x101000000)
    }

    @Test func resourcesAndConflicts() throws {
        let k = try FakeKernfs.standard()
        var report = try ResourceReport.collect(Kernfs(root: k.root))
        #expect(report.pool?.cpus == [2, 3, 4, 5, 6, 7])
        #expect(report.instances.first { $0.name == "db" }?.regions == [.init(start: 0x1_2000_0000, size: 0x2000_0000)])
        #expect(report.instances.first { $0.name == "web" }?.regionsFromIomem == true)
        #expect(report.instances.first { $0.name == "web" }?.aliases.first?.0 == "net0")
        // spare's CPU 6 is also "available" in the pool: flagged.
        #expect(report.problems.contains { $0.contains("CPU 6 of spare") })
        // Make db overlap web and share a CPU.
        try k.write("proc/iomem", "100000000-17fffffff : Multikernel Memory Pool\n  100000000-11fffffff : mk-instance-1-web-region-0\n  110000000-12fffffff : mk-instance-2-db-region-0\n")
        try k.dtb("sys/fs/multikernel/instances/db/device_tree", """
            /dts-v1/;
            / { compatible = "multikernel-v1"; model = "db"; id = <2>;
                resources { memory-base = /bits/ 64 <0x110000000>; memory-bytes = /bits/ 64 <0x20000000>; cpus = /bits/ 64 <3 4>; }; };
            """)
        report = try ResourceReport.collect(Kernfs(root: k.root))
        #expect(report.problems.contains { $0.contains("CPU 3 is assigned to both") && $0.contains("web") && $0.contains("db") })
        #expect(report.problems.contains { $0.contains("overlaps") })
    }

    /// Downstream trees: /dev/dma_heap/multikernel buffers are `daxfs`
    /// children of the pool; `resources` lists them and flags only overlaps.
    @Test func daxfsBuffersOfThePoolAreListed() throws {
        let k = try FakeKernfs.standard()
        try k.write("proc/iomem", """
            00001000-0009ffff : System RAM
            100000000-27fffffff : System RAM
              100000000-17fffffff : Multikernel Memory Pool
                100000000-11fffffff : mk-instance-1-web-region-0
                120000000-13fffffff : mk-instance-2-db-region-0
                170000000-173ffffff : daxfs
                174000000-1740fffff : daxfs
              180000000-1800fffff : daxfs

            """)
        var report = try ResourceReport.collect(Kernfs(root: k.root))
        // Only the pool's own children count; the third daxfs line is not under the pool.
        #expect(report.pool?.buffers == [.init(name: "daxfs", region: .init(start: 0x1_7000_0000, size: 0x400_0000)),
                                         .init(name: "daxfs", region: .init(start: 0x1_7400_0000, size: 0x10_0000))])
        #expect(!report.problems.contains { $0.contains("daxfs") }, "\(report.problems)")
        #expect(report.instances.first { $0.name == "web" }?.regions == [.init(start: 0x1_0000_0000, size: 0x2000_0000)])
        // A buffer inside an instance's memory is a conflict.
        try k.write("proc/iomem", "100000000-17fffffff : Multikernel Memory Pool\n  100000000-11fffffff : mk-instance-1-web-region-0\n  110000000-1100fffff : daxfs\n")
        report = try ResourceReport.collect(Kernfs(root: k.root))
        #expect(report.problems.contains("pool buffer daxfs 0x110000000-0x110100000 overlaps 0x100000000-0x120000000 of web"), "\(report.problems)")
    }

    @Test func freezeTimesOutAndWithdraws() throws {
        let k = try FakeKernfs.standard()
        let web = try Kernfs(root: k.root).instance("web")
        let guardFreeze = FreezeGuard()
        guardFreeze.guardianExecutable = mkdbgBinary()
        guardFreeze.timeout = 0.3
        // No kernel plays along: events never says "frozen 1".
        #expect(throws: MultikernelError.freezeTimeout("web", seconds: 0.3)) { try guardFreeze.freeze(web) }
        #expect(try String(contentsOfFile: web.freezePath, encoding: .utf8).hasPrefix("0"))
        #expect(guardFreeze.held.isEmpty)
    }

    @Test func freezeThawAndSomeoneElsesFreeze() throws {
        let k = try FakeKernfs.standard()
        let stop = k.startFreezeMirror(["web", "db"])
        defer { stop() }
        let kernfs = Kernfs(root: k.root)
        let web = try kernfs.instance("web"), db = try kernfs.instance("db")
        let g = FreezeGuard()
        g.guardianExecutable = mkdbgBinary()
        #expect(try g.freeze(web) == .frozen)
        #expect(web.isFrozen == true)
        try g.thaw(web)
        #expect(web.isFrozen == false)
        // Someone else froze db: mkdbg reads it but never thaws it.
        try "1\n".write(toFile: db.freezePath, atomically: false, encoding: .utf8)
        usleep(100_000)
        #expect(try g.freeze(db) == .alreadyFrozen)
        #expect(throws: MultikernelError.frozenByOther("db")) { try g.thaw(db) }
        g.thawAll()
        #expect(db.isFrozen == true)
    }
}

/// The built mkdbg next to the test bundle (it serves `--guardian`).
func mkdbgBinary() -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let p = dir.appendingPathComponent("mkdbg").path
    return FileManager.default.isExecutableFile(atPath: p) ? p : dir.deletingLastPathComponent().appendingPathComponent("mkdbg").path
}
