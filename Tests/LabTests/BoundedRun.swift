import Foundation

/// One run of mkdbg with a deadline: its exit status (nil when it had to be
/// killed), output, wall time and peak RSS (from GNU time).
struct BoundedRun {
    var status: Int32?
    var out: String
    var outBytes: Int
    var err: String
    var seconds: Double
    var peakKiB: Int

    /// Still running at the deadline (and killed).
    var timedOut: Bool { status == nil }
    /// Ended by itself, not by a signal (a trap shows as 128 + the signal).
    var exited: Bool { status.map { $0 < 128 } ?? false }

    /// Runs the built mkdbg (in `directory` if given); stdout and stderr go
    /// to files (their size is part of what is checked).
    static func mkdbg(_ arguments: [String], deadline: Double, in directory: String? = nil) throws -> BoundedRun {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var binary = exe.appendingPathComponent("mkdbg").path
        if !FileManager.default.isExecutableFile(atPath: binary) {
            binary = exe.deletingLastPathComponent().appendingPathComponent("mkdbg").path
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mkdbg-run-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/out", errPath = dir + "/err"
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // GNU time measures the peak: a child spawned straight from this (large, vfork-sharing) test
        // process inherits its high-water RSS at exec, so wait4's ru_maxrss would count the tests' memory.
        // env -C: glibc's posix_spawn_file_actions_addchdir_np is not imported here.
        let rssPath = dir + "/rss"
        let command = ["/usr/bin/time", "-f", "%M", "-o", rssPath]
            + (directory.map { ["/usr/bin/env", "-C", $0, binary] } ?? [binary])
        let argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let started = Date()
        // Its own process group, so a deadline kill reaches mkdbg under time and env.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let rc = posix_spawn(&pid, command[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw FixtureError("posix_spawn \(binary): \(rc)") }
        var status: Int32 = 0
        var usage = rusage()
        var exited: Int32?
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid {
                // WIFEXITED / WTERMSIG by hand (the macros are not imported).
                exited = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                break
            }
            if Date().timeIntervalSince(started) > deadline {
                kill(-pid, SIGKILL)
                _ = wait4(pid, &status, 0, &usage)
                break
            }
            usleep(20_000)
        }
        let seconds = Date().timeIntervalSince(started)
        let out = FileManager.default.contents(atPath: outPath) ?? Data()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        // time's last line is %M (KiB); before it, a "Command terminated by signal" line if any.
        let rssText = FileManager.default.contents(atPath: rssPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let peak = rssText.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return BoundedRun(status: exited, out: String(decoding: out, as: UTF8.self), outBytes: out.count,
                          err: String(decoding: err.prefix(100_000), as: UTF8.self), seconds: seconds, peakKiB: peak ?? Int.max)
    }

    /// The `--json` objects, one a line.
    func objects() throws -> [[String: Any]] {
        try out.split(separator: "\n").map { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw FixtureError("not a JSON object: \(line.prefix(200))")
            }
            return o
        }
    }
}
