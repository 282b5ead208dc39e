import Testing
import Foundation

/// mkdbg thaws what it froze even when it is killed: SIGTERM through its
/// signal handler, SIGKILL through the guardian process.
@Suite(.serialized) struct FreezeGuardianTests {
    func frozenThenKilled(_ signal: Int32) throws {
        let k = try FakeKernfs.standard()
        let stop = k.startFreezeMirror(["web"])
        defer { stop() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mkdbgBinary())
        p.arguments = ["--root", k.root, "-e", "freeze web", "-e", "shell sleep 3"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let events = k.mount + "/instances/web/events"
        var deadline = Date().addingTimeInterval(10)
        while Date() < deadline, (try? String(contentsOfFile: events, encoding: .utf8)) != "frozen 1\n" { usleep(20_000) }
        #expect(try String(contentsOfFile: events, encoding: .utf8) == "frozen 1\n")
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let killedAt = Date()
        deadline = Date().addingTimeInterval(1)
        while Date() < deadline, (try? String(contentsOfFile: events, encoding: .utf8)) != "frozen 0\n" { usleep(10_000) }
        #expect(try String(contentsOfFile: k.mount + "/instances/web/freeze", encoding: .utf8).hasPrefix("0"))
        #expect(try String(contentsOfFile: events, encoding: .utf8) == "frozen 0\n")
        #expect(Date().timeIntervalSince(killedAt) < 1)
        // The `sleep` child of the shell command may linger; it holds nothing.
    }

    @Test func sigtermThaws() throws { try frozenThenKilled(SIGTERM) }
    @Test func sigkillThawsThroughTheGuardian() throws { try frozenThenKilled(SIGKILL) }

    @Test func normalExitThaws() throws {
        let k = try FakeKernfs.standard()
        let stop = k.startFreezeMirror(["web"])
        defer { stop() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mkdbgBinary())
        p.arguments = ["--root", k.root, "-e", "freeze web", "-e", "instances"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(text.contains("web: frozen"))
        #expect(text.contains("web    1   active  yes"))
        #expect(try String(contentsOfFile: k.mount + "/instances/web/freeze", encoding: .utf8).hasPrefix("0"))
    }
}
