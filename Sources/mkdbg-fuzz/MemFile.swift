#if canImport(Glibc)
import Glibc
#endif

/// An in-memory (tmpfs) file that path-based readers open through /proc/self/fd:
/// the image opener and kernfs take paths, and a tmpfs write per input is
/// the fastest way to give them one.
final class MemFile {
    let fd: Int32
    var path: String { "/proc/self/fd/\(fd)" }

    init(_ name: String) {
        // Unlinked at once: nothing is left behind, /proc/self/fd still opens it.
        let file = "/dev/shm/\(name)-\(getpid())"
        fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        if fd < 0 { fail("open \(file): \(String(cString: strerror(errno)))") }
        unlink(file)
    }

    func set(_ data: [UInt8]) {
        guard ftruncate(fd, 0) == 0 else { fail("ftruncate failed") }
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        if written != data.count { fail("pwrite wrote \(written) of \(data.count) bytes") }
    }
}

/// Writes a whole file (kernfs trees for the DTB target).
func writeFile(_ path: String, _ data: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd < 0 { fail("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    if written != data.count { fail("short write to \(path)") }
}
