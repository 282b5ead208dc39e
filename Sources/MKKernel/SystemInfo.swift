import MKFormat
import MKDebugInfo

/// A kernel's identity and vital signs, as crash's `sys` shows them. Each
/// part is read independently: one that cannot be read is left nil with a
/// warning, and the rest is still reported.
public struct SystemInfo {
    /// `init_uts_ns.name`: sysname, nodename, release, version, machine, domainname.
    public var uts: [(String, String)] = []
    public var nrCPUIds: Int?
    public var possibleCPUs: [Int]?
    public var onlineCPUs: [Int]?
    public var clock: KernelClock?
    /// `avenrun[0..2]` as the kernel keeps them: fixed point, 11 fractional bits.
    public var loadAverageRaw: [UInt64]?
    public var totalRAMPages: UInt64?
    public var pageSize: UInt64 = 4096
    /// `nr_threads`: the kernel's count of tasks (idle tasks excluded).
    public var threads: Int?
    /// VMCOREINFO `CRASHTIME` (seconds since the epoch), when kdump wrote it.
    public var crashTime: Int64?
    public var panic: PanicInfo?
    public var warnings: [String] = []

    public func utsField(_ name: String) -> String? { uts.first { $0.0 == name }?.1 }

    /// `avenrun` as `ps`/`uptime` print it: the integer part and two decimals
    /// (FSHIFT = 11, FIXED_1 = 2048, constants of `include/linux/sched/loadavg.h`).
    public var loadAverage: [String]? {
        loadAverageRaw?.map { v in
            let whole = v >> 11
            let hundredths = ((v & 2047) * 100) >> 11
            return "\(whole)." + (hundredths < 10 ? "0" : "") + String(hundredths)
        }
    }

    public var totalRAMBytes: UInt64? { totalRAMPages.map { $0 &* pageSize } }
}

extension Kernel {
    public func systemInfo(includePanic: Bool = true) -> SystemInfo {
        var s = SystemInfo()
        func attempt<T>(_ what: String, _ body: () throws -> T) -> T? {
            do { return try body() } catch {
                let text = "\(error)"
                let why = target.lacksDataSymbols && text.contains("no symbol") && !text.contains("KALLSYMS_ALL") ? Self.noDataSymbols : ""
                s.warnings.append("\(what): \(text)\(why)")
                return nil
            }
        }
        if let name = attempt("init_uts_ns", { try object("init_uts_ns")["name"] }) {
            for field in ["sysname", "nodename", "release", "version", "machine", "domainname"] {
                if let v = attempt("init_uts_ns.name.\(field)", { try name[field].string(limit: 65) }) {
                    s.uts.append((field, v))
                }
            }
        }
        s.nrCPUIds = attempt("nr_cpu_ids") { try nrCPUIds() }
        s.possibleCPUs = attempt("possible CPUs") { try cpus(.possible) }
        s.onlineCPUs = attempt("online CPUs") { try cpus(.online) }
        s.clock = attempt("uptime") { try clock() }
        s.loadAverageRaw = attempt("avenrun") {
            let a = try object("avenrun")
            return try (0..<3).map { try a.index($0).unsigned() }
        }
        if let size = target.image.vmcoreInfo?.pageSize, size > 0 { s.pageSize = size }
        s.totalRAMPages = attempt("total RAM") {
            if has(variable: "_totalram_pages") {
                let v = try object("_totalram_pages")
                return v.type.isInteger ? try v.unsigned() : try v["counter"].unsigned()
            }
            return try object("totalram_pages").unsigned()
        }
        if has(variable: "nr_threads") {
            s.threads = attempt("nr_threads") { Int(try object("nr_threads").signed()) }
        }
        s.crashTime = target.image.vmcoreInfo?.crashTime
        if includePanic {
            s.panic = attempt("panic") { try panicInfo() } ?? nil
        }
        return s
    }
}
