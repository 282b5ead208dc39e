import Testing
import Foundation
import MKCommands

/// `bt PID`, `set PID`, `frame`, `up`, `down`: the selected task and frame
/// of a target, checked against the lines `bt` prints for the same stacks.
@Suite(.serialized) struct FrameSelectionTests {
    func frameLines(_ bt: String) -> [String] { bt.split(separator: "\n").map(String.init).filter { $0.hasPrefix("#") } }

    @Test func frameUpDownWalkThePanickingStack() throws {
        let session = Session(target: try LabFixture.load("panicked").target())
        let frames = frameLines(try session.execute("bt").text)
        #expect(frames.count > 8, "\(frames)")
        #expect(try session.execute("frame").text == frames[0])
        // panic() is frame 3 on 6.1, 5 on 6.12 (vpanic and the pvpanic module's .part.0 clone between).
        let p = try #require(frames.firstIndex { $0.contains(" in panic+") }, "\(frames)")
        #expect(p >= 3)
        let panic = try session.execute("frame \(p)").text
        #expect(panic == frames[p], "\(panic)")
        #expect(try session.execute("up").text == frames[p + 1])
        #expect(try session.execute("down 2").text == frames[p - 1])
        #expect(try session.execute("up 1000").text == frames[frames.count - 1])
        #expect(throws: CommandError.self) { try session.execute("up") }
        #expect(try session.execute("frame 0").text == frames[0])
        #expect(throws: CommandError.self) { try session.execute("down") }
        #expect(throws: CommandError.self) { try session.execute("frame \(frames.count)") }
        #expect(throws: CommandError.self) { try session.execute("frame -1") }
        // The selection stays where `frame` put it.
        _ = try session.execute("frame 5")
        #expect(try session.execute("frame").text == frames[5])
    }

    @Test func btPidAndSetPidSelectTheTask() throws {
        let session = Session(target: try LabFixture.load("panicked").target())
        let initStack = try session.execute("bt 1").text
        #expect(initStack.hasPrefix("PID: 1  "), "\(initStack)")
        #expect(try session.execute("frame").text == frameLines(initStack)[0])
        // A bare bt now shows the selected task.
        #expect(try session.execute("bt").text == initStack)
        let set = try session.execute("set 2").text
        #expect(set.hasPrefix("PID: 2  ") && set.contains("COMMAND: \"kthreadd\""), "\(set)")
        let kthreadd = try session.execute("bt").text
        #expect(kthreadd.hasPrefix("PID: 2  ") && kthreadd.contains("in kthreadd+"), "\(kthreadd)")
        let last = frameLines(kthreadd).count - 1
        #expect(try session.execute("frame \(last)").text == frameLines(kthreadd)[last])
        #expect(throws: CommandError.self) { try session.execute("set 999999") }
        // The selection is the target's: another target starts at its panicking task.
        _ = try session.execute("open \(try LabFixture.load("panicked").elf) as other")
        #expect(try session.execute("frame").text.contains(" [pvpanic]"))
        try session.switchTo("vmcore")
        #expect(try session.execute("frame").text == frameLines(kthreadd)[last])
    }

    @Test func frameJSON() throws {
        let fixture = try LabFixture.load("panicked")
        let bt = frameLines(try Session(target: fixture.target()).execute("bt").text)
        let p = try #require(bt.firstIndex { $0.contains(" in panic+") }, "\(bt)")
        let run = try runMkdbg(["-c", fixture.elf, "--json", "-e", "frame \(p)", "-e", "set 1"])
        let lines = run.out.split(separator: "\n")
        #expect(lines.count == 2, "\(run.out) \(run.err)")
        let frame = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        let f = try #require(frame["frame"] as? [String: Any])
        #expect(f["index"] as? Int == p && f["function"] as? String == "panic" && f["file"] as? String == "kernel/panic.c", "\(frame)")
        let set = try #require(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(set["pid"] as? Int == 1, "\(set)")
    }
}
