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
        let jiffies = try session.execute("p jiffies").text
        #expect(jiffies.hasPrefix("$1 = "))
        #expect(try session.execute("p init_task.comm").text.hasPrefix("$2 = \"swapper/0"))

        _ = try session.execute("open \(panicked.elf) as pan")
        #expect(session.currentName == "pan")
        #expect(session.moduleDebugFiles.isEmpty)
        // The other target's module file is not this one's, nor is its x continuation.
        #expect(throws: (any Error).self) { try session.execute("info line pvpanic_panic_notify") }
        #expect(throws: CommandError.self) { try session.execute("x") }
        // Its value history is its own: numbering starts again, the other's $2 is not here.
        #expect(try session.execute("p 5").text == "$1 = 5")
        #expect(throws: (any Error).self) { try session.execute("p $2") }

        try session.switchTo("vmcore")
        #expect(session.moduleDebugFiles.keys.sorted() == ["pvpanic"])
        #expect(try session.execute("info line pvpanic_panic_notify").text == line)
        let next = try session.execute("x/xg").text
        #expect(next.hasPrefix("0x") && next.contains("<init_task+16>"), "\(next)")
        // Back on the first target, its history is as it was: $1 is its jiffies,
        // and the snapshot of init_task.comm keeps its address.
        #expect(try session.execute("p $1").text == "$3 = " + jiffies.dropFirst(5))
        let address = try session.execute("p &init_task.comm").text
        #expect(try session.execute("p &$2").text == "$5 = " + address.dropFirst(5))
        #expect(try session.execute("p $2[1]").text == "$6 = 119 'w'")
        try session.switchTo("pan")
        #expect(try session.execute("p $1 + 1").text == "$2 = 6")
        try session.switchTo("vmcore")
        #expect(session.contexts.map(\.name) == ["vmcore", "pan"])
        #expect(session.contexts.map(\.state) == ["post-mortem", "post-mortem"])
    }
}
