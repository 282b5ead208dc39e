import Testing
import Foundation
import MKFormat

@Suite(.serialized) struct CommandLineTests {
    @Test func infoImageSymAndExamine() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-s", fx.vmlinux,
                              "-e", "info image", "-e", "sym init_uts_ns", "-e", "x/s init_uts_ns.name.release",
                              "-e", "sym schedule+0x10", "-e", "x/2xg init_task", "-e", "x/8xb linux_banner"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("ELF vmcore"))
        #expect(r.out.contains("release           \(fx.release)"))
        #expect(r.out.contains("matches"))
        #expect(r.out.contains("page tables       4-level"))
        #expect(r.out.contains("<init_uts_ns+130>:\t\"\(fx.release)\""))
        #expect(r.out.contains("(T) schedule+0x10"))
        #expect(r.out.contains("<init_task>:\t0x"))
        // "Linux ve" as bytes
        #expect(r.out.contains("0x4c\t0x69\t0x6e\t0x75\t0x78\t0x20\t0x76\t0x65"))
    }

    @Test func findsVmlinuxWithoutDashS() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.kdumpFlat, "-e", "x/s init_uts_ns.name.release"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("\"\(fx.release)\""))
    }

    @Test func physicalExamine() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-s", fx.vmlinux, "-e", "x/4xw -p 0x1000"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.hasPrefix("0x1000:\t0x"))
    }

    @Test func failingCommandGivesNonZeroExitAndRunsTheRest() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-s", fx.vmlinux, "-e", "x/g 0xffffc9ffffff0000", "-e", "sym init_task"])
        #expect(r.status != 0)
        #expect(r.err.contains("cannot access memory at address 0xffffc9ffffff0000"))
        #expect(r.out.contains("init_task"))
        let unknown = try runMkdbg(["-c", fx.elf, "-s", fx.vmlinux, "-e", "sym init_tsk"])
        #expect(unknown.status != 0)
        #expect(unknown.err.contains("did you mean"))
        #expect(unknown.err.contains("init_task"))
    }

    @Test func vmlinuxFromAnotherBuildIsRefused() throws {
        let fx = try LabFixture.load("running")
        let dir = NSTemporaryDirectory() + "mkdbg-other-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Another build: a real ELF executable with its own build-id.
        try "int main(void){return 0;}\n".write(toFile: dir + "/k.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-no-pie", "-Wl,--build-id", "-o", dir + "/vmlinux", dir + "/k.c"]
        try cc.run()
        cc.waitUntilExit()
        #expect(cc.terminationStatus == 0)
        let r = try runMkdbg(["-c", fx.elf, "-s", dir + "/vmlinux", "-e", "sym init_task"])
        #expect(r.status != 0)
        #expect(r.err.contains("does not match the image"))
        #expect(r.err.contains("build-id"))
        // Overridable: the flag loads it anyway (and then has no such symbol).
        let forced = try runMkdbg(["-c", fx.elf, "-s", dir + "/vmlinux", "--ignore-mismatch", "-e", "info image"])
        #expect(forced.out.contains("MISMATCH"))
    }

    @Test func badImagesGiveClearErrors() throws {
        let dir = NSTemporaryDirectory() + "mkdbg-bad-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/empty", contents: Data())
        let empty = try runMkdbg(["-c", dir + "/empty", "-e", "info image"])
        #expect(empty.status != 0)
        #expect(empty.err.contains("\(dir)/empty: empty file"))
        let missing = try runMkdbg(["-c", dir + "/nope", "-e", "info image"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("cannot open"))
        // The vmlinux is an ELF but not a core.
        let fx = try LabFixture.load("running")
        let wrong = try runMkdbg(["-c", fx.vmlinux, "-e", "info image"])
        #expect(wrong.status != 0)
        #expect(wrong.err.contains("expected a core file"))
        // A truncated real dump: segments past EOF are reported, reads there fail cleanly.
        let cut = dir + "/cut.elf"
        let src = try FileSource(path: fx.elf)
        let head = try src.read(at: 0, count: 1 << 20)
        FileManager.default.createFile(atPath: cut, contents: Data(head))
        let r = try runMkdbg(["-c", cut, "-s", fx.vmlinux, "-e", "info image", "-e", "x/s init_uts_ns.name.release"])
        #expect(r.out.contains("truncated"))
        #expect(r.status != 0)
        #expect(r.err.contains("truncated"))
    }
}
