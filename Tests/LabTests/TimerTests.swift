import Testing
import Foundation

/// `timer` on the lab's dumps: the wheel bases the kernel's DWARF says it
/// has, and the hrtimer of the guest's `sleep 3600` (mk-sleeper's loop)
/// about an hour ahead of the monotonic clock.
@Suite(.serialized) struct TimerTests {
    @Test(arguments: ["running", "panicked"]) func theSleepersHrtimerIsAnHourAhead(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let o = try KernelTests.json(fx.elf, ["timer", "sys", "p sizeof(timer_bases) / sizeof(timer_bases[0])",
                                              "sym hrtimer_wakeup"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let cpus = try #require(o[0]["cpus"] as? [[String: Any]])
        let nrCPUs = try #require(o[1]["nr_cpu_ids"] as? Int)
        #expect(cpus.count == nrCPUs)
        // 2 bases (standard, deferrable) on 6.1; 3 since 6.9 (local, global, deferrable).
        let bases = try #require(o[2]["integer"] as? UInt64)
        #expect(bases == (fx.atLeast(6, 9) ? 3 : 2))
        #expect(cpus.allSatisfy { ($0["wheel"] as? [Any])?.count == Int(bases) })
        // The wheel's clock trails jiffies by a little, never leads it.
        let jiffies = try #require(o[0]["jiffies"] as? UInt64)
        for c in cpus {
            for b in c["wheel"] as? [[String: Any]] ?? [] {
                let clk = try #require(b["clk"] as? UInt64)
                let behind = Int64(bitPattern: jiffies &- clk)
                #expect(behind >= -1 && behind < 100_000, "clk \(clk) jiffies \(jiffies)")
            }
        }
        // sleep(1) sleeps in hrtimer_nanosleep: an hrtimer_sleeper with hrtimer_wakeup, on CLOCK_MONOTONIC.
        let uptime = try #require(o[1]["uptime_seconds"] as? Double)
        let wakeup = try #require((o[3]["symbol_address"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) }, "\(o[3])")
        let sleepers = cpus.flatMap { ($0["hrtimer_bases"] as? [[String: Any]] ?? []).filter { $0["index"] as? Int == 0 } }
            .flatMap { $0["timers"] as? [[String: Any]] ?? [] }
            .filter { ($0["function"] as? String) == "0x" + String(wakeup, radix: 16) }
        let ahead = sleepers.compactMap { ($0["expires"] as? Int64).map { Double($0) / 1e9 - uptime } }
        #expect(ahead.contains { $0 > 3500 && $0 <= 3600.5 }, "hrtimer_wakeup timers \(ahead) s ahead of uptime \(uptime)")
        #expect(sleepers.allSatisfy { $0["function_symbol"] as? String == "hrtimer_wakeup" })
        // The text: a header per CPU and base, the functions named.
        let text = try runMkdbg(["-c", fx.elf, "-e", "timer", "-e", "timer -r -C 0"]).out
        #expect(text.hasPrefix("JIFFIES: \(jiffies)\n"), "\(text.prefix(200))")
        #expect(text.components(separatedBy: "\nTIMER_BASES[").count - 1 == nrCPUs * Int(bases), "\(text)")
        #expect(text.contains("<hrtimer_wakeup>") && text.contains("  CLOCK: 0  HRTIMER_CLOCK_BASE: ") && text.contains("[ktime_get]"))
        let bad = try runMkdbg(["-c", fx.elf, "-e", "timer -C \(nrCPUs)"])
        #expect(bad.status != 0 && bad.err.contains("CPU \(nrCPUs) is out of range"), "\(bad.err)")
    }
}
