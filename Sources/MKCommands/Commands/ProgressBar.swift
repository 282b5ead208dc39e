#if canImport(Glibc)
import Glibc
#endif
import MKFormat

/// A progress bar on standard error for long writes: only when standard
/// error is a terminal and the job is over 16 MiB; redrawn at most ten
/// times a second, erased when done.
final class ProgressBar {
    static let threshold: UInt64 = 16 << 20
    let label: String
    let total: UInt64
    private var lastDraw = 0.0
    private let clock = Stopwatch()

    init?(label: String, total: UInt64) {
        guard total > Self.threshold, isatty(STDERR_FILENO) != 0 else { return nil }
        self.label = label
        self.total = total
    }

    func update(_ done: UInt64) {
        let now = clock.seconds
        guard now - lastDraw >= 0.1 || done == total else { return }
        lastDraw = now
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r\(label) [\(bar)] \(fixed(fraction * 100, 0))% \(sizeText(done)) of \(sizeText(total)), \(fixed(rate(done, now), 0)) MiB/s"
        fputs(line, stderr)
        fflush(stderr)
    }

    func finish() {
        fputs("\r\u{1b}[K", stderr)
        fflush(stderr)
    }
}
