#if canImport(Glibc)
import Glibc
#endif

/// Starting other programs without a shell.
public enum ChildProcess {
    /// `posix_spawn`s `executable` with `arguments` (the first is argv[0]),
    /// this process's environment, and `standardInput` as its fd 0. With
    /// `newSession`, the child gets a session of its own, so a terminal
    /// hang-up or Ctrl-C aimed at this process does not reach it.
    /// With `detached`, fds 0–2 are /dev/null: the child holds no pipe of
    /// this process's open (a reader of its output does not wait for it).
    public static func spawn(_ executable: String, arguments: [String], standardInput: FileDescriptor?,
                             newSession: Bool, detached: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardInput { posix_spawn_file_actions_adddup2(&actions, standardInput.rawValue, 0) }
        if detached {
            for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // glibc's POSIX_SPAWN_SETSID (0x80).
        if newSession { posix_spawnattr_setflags(&attr, Int16(0x80)) }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, &argv, environ)
        guard rc == 0 else { throw Errno(rc, call: "posix_spawn", path: executable) }
        return pid
    }
}

extension ChildProcess {
    /// Collects `pid` if it has exited (no zombie stays behind); false while it runs.
    @discardableResult
    public static func reapIfExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }
}

extension FileDescriptor {
    /// Takes an exclusive `flock` on the file without waiting; false when another holds it.
    public func tryLock() -> Bool {
        while true {
            if flock(rawValue, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// A pipe whose ends are closed on exec (a spawn's `dup2` clears that
    /// for the child's copy), so neither leaks into other children.
    public static func pipe() throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try checked("pipe", path: nil) { Glibc.pipe(&fds) }
        let ends = (read: FileDescriptor(owning: fds[0], path: "pipe"), write: FileDescriptor(owning: fds[1], path: "pipe"))
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return ends
    }
}
