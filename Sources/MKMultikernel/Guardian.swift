#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// A small process that outlives mkdbg: mkdbg tells it, over a pipe, which
/// freeze files it holds; when the pipe closes with files still held (mkdbg
/// was killed, even by SIGKILL), the guardian thaws them.
final class Guardian {
    let fd: Int32
    let pid: pid_t

    init(fd: Int32, pid: pid_t) {
        self.fd = fd
        self.pid = pid
    }

    deinit { close(fd) }

    func send(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Starts `EXECUTABLE --guardian` (mkdbg itself) in its own session with the
    /// pipe's read end as its standard input.
    static func spawn(executable: String) throws -> Guardian {
        // A guardian that died must not take mkdbg with it on the next write.
        Signals.ignore(SIGPIPE)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw MultikernelError.writeFailed("guardian pipe", reason: Errno.currentReason)
        }
        // Neither end leaks into other children (shell commands, pagers).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // glibc's POSIX_SPAWN_SETSID (0x80): its own session, so a terminal
        // hang-up or Ctrl-C aimed at mkdbg does not reach the guardian.
        posix_spawnattr_setflags(&attr, Int16(0x80))
        let exe = executable
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("mkdbg-guardian"), strdup("--guardian"), nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, &attr, &argv, environ)
        close(fds[0])
        guard rc == 0 else {
            close(fds[1])
            throw MultikernelError.writeFailed("guardian process", reason: Errno.text(rc))
        }
        return Guardian(fd: fds[1], pid: pid)
    }

    /// The guardian's main loop (`mkdbg --guardian`).
    public static func serve() -> Never {
        for sig in [SIGINT, SIGHUP, SIGPIPE] { Signals.ignore(sig) }
        var held: [String] = []
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
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
