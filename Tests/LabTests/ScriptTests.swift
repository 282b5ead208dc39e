import Testing
import Foundation

/// Scripted use: -x, source, standard input, comments, exit status,
/// --stop-on-error, pipes and redirection.
@Suite(.serialized) struct ScriptTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "mkdbg-script-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func scriptFilesStdinAndComments() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# a comment\n\np init_task.pid\nsource \(dir)/inner.mkdbg\n".write(toFile: dir + "/outer.mkdbg", atomically: true, encoding: .utf8)
        try "echo inner\np init_task.comm\n".write(toFile: dir + "/inner.mkdbg", atomically: true, encoding: .utf8)
        let r = try runMkdbg(["-c", fx.elf, "-e", "echo first", "-x", dir + "/outer.mkdbg", "-e", "echo last"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == "first\n$1 = 0\ninner\n$2 = \"swapper/0\\000\\000\\000\\000\\000\\000\"\nlast\n")

        let piped = try runMkdbg(["-c", fx.elf], stdin: "p 1 + 1\n# nothing\np $ * 2\n")
        #expect(piped.status == 0)
        #expect(piped.out == "$1 = 2\n$2 = 4\n")
    }

    @Test func exitStatusAndStopOnError() throws {
        let fx = try LabFixture.load("running")
        let goOn = try runMkdbg(["-c", fx.elf, "-e", "p nope", "-e", "echo after"])
        #expect(goOn.status == 1)
        #expect(goOn.out == "after\n")
        let stop = try runMkdbg(["-c", fx.elf, "--stop-on-error", "-e", "p nope", "-e", "echo after"])
        #expect(stop.status == 1)
        #expect(stop.out == "")
        let stdinStop = try runMkdbg(["-c", fx.elf, "--stop-on-error"], stdin: "echo a\nfrobnicate\necho b\n")
        #expect(stdinStop.out == "a\n")
        #expect(stdinStop.err.contains("unknown command \"frobnicate\""))
        let missing = try runMkdbg(["-c", fx.elf, "-x", "/nonexistent/script"])
        #expect(missing.status == 1)
        #expect(missing.err.contains("/nonexistent/script: cannot open"))
    }

    @Test func pipesRedirectionAndCOperators() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out.txt"
        let r = try runMkdbg(["-c", fx.elf, "-e", "p sizeof(struct list_head) | tr 0-9 A-J",
                              "-e", "p init_task.pid > \(out)", "-e", "echo more >> \(out)",
                              "-e", "p 2 > 1", "-e", "p 6 | 1", "-e", "p (3 > 4) | 8", "-e", "shell echo from-shell"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("$B = BG\n"))
        #expect(r.out.contains("$3 = 1\n$4 = 7\n$5 = 8\nfrom-shell\n"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "$2 = 0\nmore\n")
        // C comparisons never create files.
        #expect(!FileManager.default.fileExists(atPath: "1"))
        let bad = try runMkdbg(["-c", fx.elf, "-e", "echo x > \(dir)", "-e", "echo y > /proc/nope/file"])
        #expect(bad.status == 1)
        #expect(bad.err.contains("\(dir): is a directory"))
        #expect(bad.err.contains("/proc/nope/file: cannot write"))
    }
}
