import Testing
import Foundation
import MKSystem
@testable import MKDebugInfo

/// A first start against a vmlinux with no DWARF index saved: mkdbg answers
/// from the kernel's BTF at once and builds the index in a background
/// process, which must save the very index a foreground build saves.
@Suite(.serialized) struct ColdStartTests {
    /// An empty symbol store holding only a link to the fixture's vmlinux
    /// (so its index directory, STORE/.index, starts empty).
    func emptyStore(_ fx: LabFixture, _ tag: String) throws -> (dir: String, vmlinux: String, index: String) {
        let dir = NSTemporaryDirectory() + "mkdbg-cold-\(tag)-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        let sub = dir + "/.build-id/" + fx.buildId.prefix(2)
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        let link = sub + "/" + fx.buildId.dropFirst(2) + ".debug"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fx.vmlinux)
        return (dir, link, dir + "/.index/\(fx.buildId).mkidx")
    }

    /// Waits (up to two minutes) until no process holds the index's build lock.
    func waitForBuild(_ index: String) throws {
        let lock = try FileDescriptor(open: index + ".lock", O_RDWR | O_CREAT)
        let deadline = Date().addingTimeInterval(120)
        while !lock.tryLock() {
            guard Date() < deadline else { throw FixtureError("\(index): the background build still holds its lock after 120 s") }
            usleep(20_000)
        }
    }

    @Test func firstStartAnswersFromBtfAndSavesTheIndexBehind() throws {
        let fx = try LabFixture.load("running")
        let store = try emptyStore(fx, "btf")
        defer { try? FileManager.default.removeItem(atPath: store.dir) }
        let r = try runMkdbg(["-c", fx.elf, "-s", store.vmlinux, "-e", "info image", "-e", "p init_uts_ns.name.release",
                              "-e", "p sizeof(struct task_struct)", "-e", "ps"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("BTF in the kernel's memory ("), "info image names BTF as the types in use")
        #expect(r.out.contains("while DWARF from \(store.vmlinux) is indexed"))
        #expect(r.out.contains("$1 = \"\(fx.release)\""))
        for p in fx.processes { #expect(r.out.contains(p), "ps lists \(p)") }
        // The same answers a start with the index gives.
        let warm = try runMkdbg(["-c", fx.elf, "-e", "p init_uts_ns.name.release", "-e", "p sizeof(struct task_struct)", "-e", "ps"])
        #expect(r.out.split(separator: "\n").drop { !$0.hasPrefix("$1") }.joined(separator: "\n")
                == warm.out.split(separator: "\n").joined(separator: "\n"))

        try waitForBuild(store.index)
        let saved = try #require(FileManager.default.contents(atPath: store.index), "the background build saved \(store.index)")
        let v = try Vmlinux(path: fx.vmlinux)
        let foreground = IndexFile.encode(try DwarfIndexScan.build(v.file), buildId: fx.buildId, vmlinuxSize: v.fileSize)
        #expect([UInt8](saved) == foreground, "the background build saved the foreground build's index")

        let second = try runMkdbg(["-c", fx.elf, "-s", store.vmlinux, "-e", "info image", "-e", "info debuginfo"])
        #expect(second.out.contains("types             DWARF from \(store.vmlinux)"))
        #expect(second.out.contains("loaded from \(store.index)"))
    }

    /// A global BTF has no type for is answered from DWARF: the run waits for
    /// the background build (or builds the index itself) and says so.
    @Test func whatBtfLacksWaitsForTheIndex() throws {
        let fx = try LabFixture.load("running")
        let store = try emptyStore(fx, "wait")
        defer { try? FileManager.default.removeItem(atPath: store.dir) }
        let r = try runMkdbg(["-c", fx.elf, "-s", store.vmlinux, "-e", "whatis loops_per_jiffy", "-e", "info debuginfo"])
        #expect(r.status == 0, "stderr: \(r.err)")
        // DWARF's name for it (BTF would not know the variable at all).
        #expect(r.out.contains("type = long unsigned int\n"))
        #expect(r.out.contains("after waiting") || r.out.contains("built in"), "\(r.out)")
        try waitForBuild(store.index)
    }

    @Test func foregroundIndexWhenAsked() throws {
        let fx = try LabFixture.load("running")
        let store = try emptyStore(fx, "fg")
        defer { try? FileManager.default.removeItem(atPath: store.dir) }
        let r = try runMkdbgWithEnvironment(["-c", fx.elf, "-s", store.vmlinux, "-e", "info image", "-e", "info debuginfo"],
                                            environment: ["MKDBG_INDEX": "foreground"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("types             DWARF from \(store.vmlinux)"))
        #expect(r.out.contains("by the DIE scanner, saved to \(store.index)"))
    }

    @Test func buildIndexCommandSavesOnceAndSaysSo() throws {
        let fx = try LabFixture.load("running")
        let store = try emptyStore(fx, "cmd")
        defer { try? FileManager.default.removeItem(atPath: store.dir) }
        let first = try runMkdbg(["--build-index", store.vmlinux])
        #expect(first.status == 0, "stderr: \(first.err)")
        #expect(first.out.contains("\(store.index): built in"))
        let again = try runMkdbg(["--build-index", store.vmlinux])
        #expect(again.out.contains("\(store.index): present"))
        let bad = try runMkdbg(["--build-index", store.dir + "/missing"])
        #expect(bad.status != 0)
        #expect(bad.err.contains(store.dir + "/missing"))
    }
}
