import MKFormat
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// Who builds a vmlinux's DWARF index, and when. One builder at a time
/// holds `<index>.lock` (flock): a background `mkdbg --build-index` that a
/// first start spawns while it answers from BTF, or a process that needs the
/// index now, which waits for the lock and then loads what was written.
public enum IndexBuild {
    static func indexPath(directory: String, buildId: String) -> String { "\(directory)/\(buildId).mkidx" }
    static func lockPath(_ indexPath: String) -> String { indexPath + ".lock" }

    /// How long a process that needs the index waits for another's build.
    static let waitLimit = 600.0

    /// The lock file, opened (made, with its directories) but not locked; nil when it cannot be.
    static func openLock(_ indexPath: String) -> FileDescriptor? {
        IndexFile.makeDirectories(for: indexPath)
        return try? FileDescriptor(open: lockPath(indexPath), O_RDWR | O_CREAT | O_CLOEXEC, permissions: 0o644)
    }

    /// Waits until no other process builds the index, then holds the lock
    /// (released when the descriptor goes). Nil when the lock file cannot be
    /// made (a read-only store): the caller builds unlocked.
    static func acquire(_ indexPath: String) -> FileDescriptor? {
        guard let fd = openLock(indexPath) else { return nil }
        let clock = Stopwatch()
        while !fd.tryLock() {
            guard clock.seconds < waitLimit else { return nil }
            usleep(5_000)
        }
        return fd
    }

    /// Whether some process holds the build lock now.
    static func isBuilding(_ indexPath: String) -> Bool {
        guard let fd = openLock(indexPath) else { return false }
        return !fd.tryLock()
    }

    /// Starts `mkdbg --build-index VMLINUX` detached (own session, fds on
    /// /dev/null); returns its pid, nil when it could not start.
    static func startInBackground(vmlinuxPath: String) -> pid_t? {
        guard let exe = SymbolStore.currentExecutable() else { return nil }
        return try? ChildProcess.spawn(exe, arguments: ["mkdbg", "--build-index", vmlinuxPath], standardInput: nil,
                                       newSession: true, detached: true)
    }

    /// The body of `mkdbg --build-index VMLINUX`: builds and saves the index
    /// unless another process is at it or it exists. Says what it did.
    public static func run(vmlinuxPath: String) throws -> String {
        let vmlinux = try Vmlinux(path: vmlinuxPath)
        guard let id = vmlinux.buildId else { return "\(vmlinuxPath): no build-id, so no index to save" }
        let path = indexPath(directory: SymbolStore.indexDirectory(for: vmlinuxPath), buildId: id)
        guard let lock = openLock(path) else { return "\(path): cannot make the lock file" }
        guard lock.tryLock() else { return "\(path): another process is building it" }
        if (try? IndexFile.read(path: path, buildId: id, vmlinuxSize: vmlinux.fileSize)) != nil { return "\(path): present" }
        let dwarf = try DwarfFile(elf: vmlinux.file)
        let clock = Stopwatch()
        let (bytes, how) = try DebugInfo.indexBytes(vmlinux: vmlinux, dwarf: dwarf)
        try IndexFile.writeAtomically(bytes, path: path)
        return "\(path): built in \(String(format1: clock.seconds)) s \(how)"
    }
}
