import Testing
import Foundation
import MKCommands

/// What belongs to a target stays with it: module debug files, `x`'s
/// continuation, the evaluator; switching targets switches them all.
@Suite(.serialized) struct TargetContextTests {
    @Test func moduleDebugFilesAndExamineStateArePerTarget() throws {
        let running = try LabFixture.load("running")
        let panicked = try LabFixture.load("panicked")
        let session = Session(target: try running.target())
        _ = try session.execute("mod -s pvpanic")
        let line = try session.execute("info line pvpanic_panic_notify").text
        #expect(line.contains("[pvpanic]"), "\(line)")
        _ = try session.execute("x/2xg &init_task")

        _ = try session.execute("open \(panicked.elf) as pan")
        #expect(session.currentName == "pan")
        #expect(session.moduleDebugFiles.isEmpty)
        // The other target's module file is not this one's, nor is its x continuation.
        #expect(throws: (any Error).self) { try session.execute("info line pvpanic_panic_notify") }
        #expect(throws: CommandError.self) { try session.execute("x") }
        #expect(try session.execute("p 5").text == "$1 = 5")

        try session.switchTo("vmcore")
        #expect(session.moduleDebugFiles.keys.sorted() == ["pvpanic"])
        #expect(try session.execute("info line pvpanic_panic_notify").text == line)
        let next = try session.execute("x/xg").text
        #expect(next.hasPrefix("0x") && next.contains("<init_task+16>"), "\(next)")
        // The value history is the session's.
        #expect(try session.execute("p $1 + 1").text == "$2 = 6")
        #expect(session.contexts.map(\.name) == ["vmcore", "pan"])
        #expect(session.contexts.map(\.state) == ["post-mortem", "post-mortem"])
    }
}
