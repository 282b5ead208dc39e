import MKFormat
import MKDebugInfo

/// A `struct timer_list` queued on a timer wheel.
public struct WheelTimer: Equatable {
    public var address: UInt64
    /// In jiffies.
    public var expires: UInt64
    public var function: UInt64
    /// The wheel bucket (`timer_base.vectors[]` index) it hangs on.
    public var bucket: Int
}

/// One CPU's timer wheel (`timer_bases[i]`: standard, deferrable; 6.9+ a
/// local and a global base besides the deferrable one) and its timers in
/// expiry order.
public struct TimerWheelBase {
    public var index: Int
    public var address: UInt64
    /// The wheel's clock (`clk`, in jiffies) and next expiry.
    public var clock: UInt64
    public var nextExpiry: UInt64
    public var timers: [WheelTimer]
}

/// A `struct hrtimer` queued on a CPU's clock base.
public struct HighResTimer: Equatable {
    public var address: UInt64
    /// `node.expires` and `_softexpires`, in nanoseconds of the base's clock.
    public var expires: Int64
    public var softExpires: Int64
    public var function: UInt64
}

/// One clock base of a CPU's `hrtimer_bases` (`clock_base[i]`) and its timers in expiry order.
public struct HighResClockBase {
    public var index: Int
    public var address: UInt64
    /// `get_time`: which clock (ktime_get, ktime_get_real, …).
    public var getTime: UInt64
    public var timers: [HighResTimer]
}

/// What `timer` shows of one CPU.
public struct CPUTimers {
    public var cpu: Int
    public var wheel: [TimerWheelBase]
    public var highRes: [HighResClockBase]
    public var warnings: [WalkWarning]
}

/// Where the timer structures' fields are, from DWARF.
struct TimerLayout {
    let bases: Int
    let baseSize: UInt64
    let clk: UInt64
    let nextExpiry: UInt64
    let vectors: UInt64
    let buckets: Int
    let entry: UInt64
    let expires: UInt64
    let function: UInt64
    let clockBase: UInt64
    let clockBases: Int
    let clockBaseSize: UInt64
    let active: UInt64
    let getTime: UInt64
    let hrNode: UInt64
    let nodeExpires: UInt64
    let softExpires: UInt64
    let hrFunction: UInt64

    init(_ kernel: Kernel) throws {
        guard let bases = kernel.types.variable("timer_bases") else { throw KernelError.missingSymbol("timer_bases") }
        guard let n = bases.type.resolved.count, n > 0, n <= 8, let element = bases.type.resolved.target,
              let size = element.byteSize, size > 0 else {
            throw KernelError.unsupportedLayout(what: "timer_bases", message: "timer_bases is not an array of struct timer_base")
        }
        self.bases = Int(n)
        baseSize = size
        let base = try kernel.type("struct timer_base")
        clk = try kernel.offset(of: "clk", in: base)
        nextExpiry = try kernel.offset(of: "next_expiry", in: base)
        let v = try kernel.field("vectors", in: base)
        guard let count = v.type.resolved.count, count > 0, count <= 4096 else {
            throw KernelError.unsupportedLayout(what: "struct timer_base.vectors", message: "timer_base.vectors is not an array of hlist heads")
        }
        vectors = UInt64(v.offset)
        buckets = Int(count)
        let timer = try kernel.type("struct timer_list")
        entry = try kernel.offset(of: "entry", in: timer)
        expires = try kernel.offset(of: "expires", in: timer)
        function = try kernel.offset(of: "function", in: timer)
        let cpuBase = try kernel.type("struct hrtimer_cpu_base")
        let cb = try kernel.field("clock_base", in: cpuBase)
        guard let cbCount = cb.type.resolved.count, cbCount > 0, cbCount <= 16, let cbType = cb.type.resolved.target,
              let cbSize = cbType.byteSize, cbSize > 0 else {
            throw KernelError.unsupportedLayout(what: "struct hrtimer_cpu_base.clock_base", message: "clock_base is not an array of struct hrtimer_clock_base")
        }
        clockBase = UInt64(cb.offset)
        clockBases = Int(cbCount)
        clockBaseSize = cbSize
        let clock = try kernel.type("struct hrtimer_clock_base")
        active = try kernel.offset(of: "active.rb_root.rb_root", in: clock)
        getTime = try kernel.offset(of: "get_time", in: clock)
        let hr = try kernel.type("struct hrtimer")
        hrNode = try kernel.offset(of: "node.node", in: hr)
        nodeExpires = try kernel.offset(of: "node.expires", in: hr)
        softExpires = try kernel.offset(of: "_softexpires", in: hr)
        hrFunction = try kernel.offset(of: "function", in: hr)
    }
}

extension Kernel {
    /// Each CPU's timer wheels and hrtimer clock bases (default: the possible CPUs).
    public func timers(cpus: [Int]? = nil, budget: WalkBudget = WalkBudget()) throws -> [CPUTimers] {
        let layout = try TimerLayout(self)
        let list = try cpus ?? ((try? self.cpus(.possible)) ?? Array(0..<nrCPUIds()))
        let offsets = try perCPUOffsets()
        let wheels = try address(of: "timer_bases"), hr = try address(of: "hrtimer_bases")
        return try list.map { cpu in
            try timers(cpu: cpu, wheels: try perCPUAddress(wheels, cpu: cpu, offsets: offsets),
                       highRes: try perCPUAddress(hr, cpu: cpu, offsets: offsets), layout: layout, budget: budget)
        }
    }

    private func timers(cpu: Int, wheels: UInt64, highRes: UInt64, layout l: TimerLayout, budget: WalkBudget) throws -> CPUTimers {
        var warnings: [WalkWarning] = []
        let lists = ListWalker(memory: memory, budget: budget)
        var wheel: [TimerWheelBase] = []
        for i in 0..<l.bases {
            let base = wheels &+ l.baseSize &* UInt64(i)
            var timers: [WheelTimer] = []
            for b in 0..<l.buckets {
                let walk = lists.walkHlist(head: base &+ l.vectors &+ 8 &* UInt64(b))
                warnings += walk.warnings
                for node in walk.nodes {
                    let t = node &- l.entry
                    do {
                        timers.append(WheelTimer(address: t, expires: try memory.readVirtualU64(t &+ l.expires),
                                                 function: try memory.readVirtualU64(t &+ l.function), bucket: b))
                    } catch {
                        warnings.append(WalkWarning(address: t, message: "cannot read the timer_list: \(error)"))
                    }
                }
            }
            timers.sort { ($0.expires, $0.address) < ($1.expires, $1.address) }
            wheel.append(TimerWheelBase(index: i, address: base, clock: try memory.readVirtualU64(base &+ l.clk),
                                        nextExpiry: try memory.readVirtualU64(base &+ l.nextExpiry), timers: timers))
        }
        // hrtimers: each clock base's timerqueue, an rbtree in expiry order.
        let tree = try RBTreeWalker(kernel: self, budget: budget)
        var bases: [HighResClockBase] = []
        for i in 0..<l.clockBases {
            let base = highRes &+ l.clockBase &+ l.clockBaseSize &* UInt64(i)
            let walk = tree.walk(root: try memory.readVirtualU64(base &+ l.active))
            warnings += walk.warnings
            var timers: [HighResTimer] = []
            for node in walk.nodes {
                let t = node &- l.hrNode
                do {
                    timers.append(HighResTimer(address: t, expires: Int64(bitPattern: try memory.readVirtualU64(t &+ l.nodeExpires)),
                                               softExpires: Int64(bitPattern: try memory.readVirtualU64(t &+ l.softExpires)),
                                               function: try memory.readVirtualU64(t &+ l.hrFunction)))
                } catch {
                    warnings.append(WalkWarning(address: t, message: "cannot read the hrtimer: \(error)"))
                }
            }
            bases.append(HighResClockBase(index: i, address: base, getTime: try memory.readVirtualU64(base &+ l.getTime), timers: timers))
        }
        return CPUTimers(cpu: cpu, wheel: wheel, highRes: bases, warnings: warnings)
    }
}
