#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// A small process that outlives mkdbg: mkdbg tells it, over a pipe, which
/// freeze files it holds; when the pipe closes with files still held (mkdbg
/// was killed, even by SIGKILL), the guardian thaws them.
final class Guardian {
    let pipe: FileDescriptor
    let pid: pid_t

    init(pipe: FileDescriptor, pid: pid_t) {
        self.pipe = pipe
        self.pid = pid
    }

    func send(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        // A guardian that is gone cannot be told; its absence is not mkdbg's error.
        try? bytes.withUnsafeBytes { try pipe.writeAll($0) }
    }

    /// Starts `EXECUTABLE --guardian` (mkdbg itself) in its own session with the
    /// pipe's read end as its standard input.
    static func spawn(executable: String) throws -> Guardian {
        // A guardian that died must not take mkdbg with it on the next write.
        Signals.ignore(SIGPIPE)
        let ends: (read: FileDescriptor, write: FileDescriptor)
        do {
            ends = try FileDescriptor.pipe()
        } catch let e as Errno {
            throw MultikernelError.writeFailed("guardian pipe", reason: e.reason)
        }
        let pid: pid_t
        do {
            // Its own session: a terminal hang-up or Ctrl-C aimed at mkdbg
            // does not reach the guardian.
            pid = try ChildProcess.spawn(executable, arguments: ["mkdbg-guardian", "--guardian"],
                                         standardInput: ends.read, newSession: true)
        } catch let e as Errno {
            throw MultikernelError.writeFailed("guardian process", reason: e.reason)
        }
        try? ends.read.close()
        return Guardian(pipe: ends.write, pid: pid)
    }

    /// The guardian's main loop (`mkdbg --guardian`).
    public static func serve() -> Never {
        for sig in [SIGINT, SIGHUP, SIGPIPE] { Signals.ignore(sig) }
        let input = FileDescriptor(owning: 0, path: "standard input")
        var held: [String] = []
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let n = try? buf.withUnsafeMutableBytes({ try input.read(into: $0) }), n > 0 else { break }
            pending += buf[0..<n]
            while let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                if line.hasPrefix("hold ") { held.append(String(line.dropFirst(5))) }
                if line.hasPrefix("release ") {
                    let path = String(line.dropFirst(8))
                    held.removeAll { $0 == path }
                }
            }
        }
        for path in held { try? KernfsFile.write(path, "0") }
        exit(0)
    }
}

/// Entry point for the executable's hidden `--guardian` mode.
public enum FreezeGuardian {
    public static func serve() -> Never { Guardian.serve() }
}
