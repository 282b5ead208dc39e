#if canImport(Glibc)
import Glibc
#endif

/// Monotonic elapsed time, for timings shown to the user and for timeouts.
public struct Stopwatch {
    public let start = Stopwatch.now()

    public init() {}

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public var seconds: Double { Stopwatch.now() - start }
}
