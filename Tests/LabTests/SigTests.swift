import Testing
import Foundation

/// `sig` on the lab's dumps: the guest's mk-sleeper is a shell running a
/// loop in the background, so it ignores SIGINT and SIGQUIT and catches
/// SIGCHLD (to reap its `sleep`); nothing is blocked or pending.
@Suite(.serialized) struct SigTests {
    @Test(arguments: ["running", "panicked"]) func theBackgroundShellIgnoresInterrupts(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let pid = try #require((try KernelTests.facts(fx)["pids"] as? [String: Int])?["mk-sleeper"])
        let o = try KernelTests.json(fx.elf, ["sig \(pid)", "sig 2"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let actions = try #require(o[0]["actions"] as? [[String: Any]])
        #expect(actions.count == 64 && actions.map { $0["signal"] as? Int } == Array(1...64).map { $0 })
        func handler(_ n: Int) -> String? { actions[n - 1]["handler"] as? String }
        #expect(handler(2) == "SIG_IGN" && handler(3) == "SIG_IGN", "\(actions.prefix(3))")
        let chld = try #require(handler(17))
        #expect(chld.hasPrefix("0x") && (UInt64(chld.dropFirst(2), radix: 16) ?? 0) < 0x8000_0000_0000, "SIGCHLD \(chld)")
        #expect(handler(9) == "SIG_DFL" && actions[16]["name"] as? String == "SIGCHLD")
        #expect(o[0]["blocked"] as? UInt64 == 0 && o[0]["pending"] as? UInt64 == 0 && o[0]["nr_threads"] as? Int == 1)
        // A kernel thread (kthreadd) has no user handlers.
        let kthread = try #require(o[1]["actions"] as? [[String: Any]])
        #expect(kthread.allSatisfy { ($0["handler"] as? String)?.hasPrefix("SIG_") == true })
        let text = try runMkdbg(["-c", fx.elf, "-e", "sig \(pid)"]).out
        #expect(text.contains("COMMAND: \"mk-sleeper\"") && text.contains("\n  [2] SIGINT      ") && text.contains("\nSIGPENDING: no\n"),
                "\(text)")
    }
}
