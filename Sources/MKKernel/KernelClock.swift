import MKFormat
import MKDebugInfo

/// The kernel's tick rate and time since boot.
///
/// HZ is a compile-time constant (`CONFIG_HZ`) that DWARF does not carry.
/// mkdbg derives it from `tick_nsec`, the length of a tick in nanoseconds,
/// which the kernel initialises to `TICK_NSEC` = (10^9 + HZ/2) / HZ: HZ is
/// 10^9 / `tick_nsec` rounded (NTP adjusts `tick_nsec` by far less than the
/// gap between neighbouring HZ values). Without `tick_nsec`, it solves
/// `jiffies_64 = INITIAL_JIFFIES + HZ × uptime` for HZ, with the
/// timekeeper's monotonic clock (`tk_core.timekeeper.tkr_mono`) as uptime.
///
/// Uptime is `(jiffies_64 − INITIAL_JIFFIES) / HZ`, where the kernel starts
/// its jiffies counter at INITIAL_JIFFIES = (unsigned int)(−300 × HZ), five
/// minutes before a 32-bit wrap, so wrap bugs show early.
public struct KernelClock {
    public var hz: Int
    /// How HZ was found, for people.
    public var hzMethod: String
    public var jiffies: UInt64
    public var initialJiffies: UInt64
    /// Ticks since boot.
    public var ticks: UInt64 { jiffies &- initialJiffies }
    public var uptimeSeconds: Double { Double(ticks) / Double(hz) }

    public static func initialJiffies(hz: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: -300 * hz))
    }
}

extension Kernel {
    public func clock() throws -> KernelClock {
        let jiffies: UInt64
        if has(variable: "jiffies_64") {
            jiffies = try object("jiffies_64").unsigned()
        } else {
            jiffies = try object("jiffies").unsigned()
        }
        if has(variable: "tick_nsec") {
            let tick = try object("tick_nsec").unsigned()
            guard tick > 0 else { throw KernelError.implausible(what: "tick_nsec", value: 0, address: nil, message: "tick_nsec is 0: cannot derive HZ") }
            let hz = Int((1_000_000_000 + tick / 2) / tick)
            guard (10...100_000).contains(hz) else {
                throw KernelError.implausible(what: "tick_nsec", value: tick, address: nil, message: "tick_nsec \(tick) gives HZ \(hz): not plausible")
            }
            return KernelClock(hz: hz, hzMethod: "10^9 / tick_nsec (\(tick) ns)", jiffies: jiffies,
                               initialJiffies: KernelClock.initialJiffies(hz: hz))
        }
        // jiffies_64 − 2^32 = HZ × (uptime − 300)
        let mono = try object("tk_core").path("timekeeper.tkr_mono")
        let base = try mono["base"].signed()
        let shift = try mono["shift"].unsigned()
        let nsec = shift < 64 ? try mono["xtime_nsec"].unsigned() >> shift : 0
        let uptime = (Double(base) + Double(nsec)) / 1e9
        let delta = Double(Int64(bitPattern: jiffies &- (1 << 32)))
        guard uptime != 300 else { throw KernelError.implausible(what: "tk_core.timekeeper.tkr_mono", value: nil, address: nil, message: "cannot derive HZ: uptime is exactly 300 s") }
        let hz = Int((delta / (uptime - 300)).rounded())
        guard (10...100_000).contains(hz) else {
            throw KernelError.implausible(what: "jiffies_64", value: jiffies, address: nil, message: "jiffies and the monotonic clock give HZ \(hz): not plausible")
        }
        return KernelClock(hz: hz, hzMethod: "jiffies against the monotonic clock", jiffies: jiffies,
                           initialJiffies: KernelClock.initialJiffies(hz: hz))
    }
}
