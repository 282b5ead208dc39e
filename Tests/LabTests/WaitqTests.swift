import Testing
import Foundation

/// `waitq` on the FIFO the lab's workers poll (`read -t 3600 <>/run/mk/idle`):
/// both workers sleep on the pipe's rd_wait through pollwake entries.
@Suite(.serialized) struct WaitqTests {
    @Test(arguments: ["running", "panicked"]) func theWorkersSleepOnTheirFIFO(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let pids = try #require(try KernelTests.facts(fx)["pids"] as? [String: Int])
        let w1 = try #require(pids["mk-worker-1"]), w2 = try #require(pids["mk-worker-2"])
        let files = try KernelTests.json(fx.elf, ["files \(w1)"])[0]
        let fifo = try #require((files["files"] as? [[String: Any]])?.first { $0["fd"] as? Int == 0 })
        #expect(fifo["path"] as? String == "/run/mk/idle" && fifo["type"] as? String == "FIFO", "\(fifo)")
        let file = try #require(fifo["file"] as? String)
        let head = "&((struct pipe_inode_info *)((struct file *)\(file))->private_data)->rd_wait"
        let o = try KernelTests.json(fx.elf, ["waitq \(head)", "waitq jiffies"])
        #expect(o[0]["ok"] as? Bool == true, "\(o[0])")
        let entries = try #require(o[0]["entries"] as? [[String: Any]])
        let waiting = Set(entries.compactMap { $0["pid"] as? Int })
        #expect(waiting.isSuperset(of: [w1, w2]), "\(entries)")
        #expect(entries.allSatisfy { $0["func_symbol"] as? String == "pollwake" })
        #expect(entries.filter { $0["pid"] as? Int == w1 }.allSatisfy { $0["comm"] as? String == "mk-worker-1" })
        // Not a wait queue: jiffies' words are no list; a warning, not a hang.
        #expect(o[1]["ok"] as? Bool == true && !(HostileWalkTests.warnings(o[1]).isEmpty), "\(o[1])")
        let text = try runMkdbg(["-c", fx.elf, "-e", "waitq \(head)"]).out
        #expect(text.contains("COMMAND: \"mk-worker-2\"  (entry ") && text.contains(", pollwake)"), "\(text)")
    }
}
