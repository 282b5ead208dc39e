import Testing
import Foundation
import MKCommands

/// `foreach` on the lab's dumps: each task's block is what the command
/// prints for that task alone; the selectors choose what they say.
@Suite(.serialized) struct ForeachTests {
    @Test(arguments: ["running", "panicked"]) func eachBlockIsTheCommandForThatTask(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let pids = try #require(try KernelTests.facts(fx)["pids"] as? [String: Int])
        let session = Session(target: try fx.target())
        let all = try session.execute("foreach bt").text.components(separatedBy: "\n\n")
        let ps = try KernelTests.tasks(try KernelTests.json(fx.elf, ["ps"])[0]).filter { !$0.idle }
        #expect(all.count == ps.count, "\(all.count) blocks for \(ps.count) tasks")
        for pid in [1, 2] + pids.values.sorted() {
            let alone = try session.execute("bt \(pid)").text
            #expect(all.contains(alone), "PID \(pid)'s bt is not one of foreach's blocks")
        }
        // Selectors: names, kinds; the selection is left as it was.
        _ = try session.execute("set 1")
        let sleeper = try session.execute("foreach mk-sleeper sig").text
        #expect(sleeper.hasPrefix("PID: \(pids["mk-sleeper"] ?? -1)  ") && sleeper.contains("[17] SIGCHLD"), "\(sleeper.prefix(200))")
        #expect(try session.execute("frame").text == (try session.execute("bt 1").text.split(separator: "\n").dropFirst().first.map(String.init)))
        let user = try KernelTests.json(fx.elf, ["foreach user task comm", "foreach kernel task comm", "foreach active bt", "foreach nosuchtask bt"])
        let users = Set((user[0]["tasks"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int })
        let kernels = Set((user[1]["tasks"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int })
        #expect(users.isSuperset(of: Set(pids.values).union([1])) && !users.contains(2), "\(users)")
        #expect(kernels.contains(2) && kernels.isDisjoint(with: users))
        let active = user[2]["tasks"] as? [[String: Any]] ?? []
        #expect(active.count == 2 && active.allSatisfy { $0["ok"] as? Bool == true }, "\(active.map { $0["comm"] ?? "" })")
        #expect(user[3]["ok"] as? Bool == false)
    }
}
