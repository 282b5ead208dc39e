#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor that this object owns: closed once, by `close()`
/// or when the object goes away. Reads and writes retry on EINTR and throw
/// `Errno` naming the call and the path.
public final class FileDescriptor: @unchecked Sendable {
    public let path: String
    public private(set) var rawValue: Int32

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32, path: String) {
        self.rawValue = rawValue
        self.path = path
    }

    /// `open(2)` with `O_CLOEXEC` added.
    public convenience init(open path: String, _ flags: Int32, permissions: mode_t = 0o644) throws {
        let fd = try retrying("open", path: path) { Glibc.open(path, flags | O_CLOEXEC, permissions) }
        self.init(owning: fd, path: path)
    }

    deinit { if rawValue >= 0 { _ = Glibc.close(rawValue) } }

    /// Closes now; a failure (a delayed write error) is reported.
    public func close() throws {
        guard rawValue >= 0 else { return }
        let fd = rawValue
        rawValue = -1
        if Glibc.close(fd) != 0 { throw Errno(call: "close", path: path) }
    }

    public func status() throws -> stat {
        var st = stat()
        _ = try checked("fstat", path: path) { fstat(rawValue, &st) }
        return st
    }

    /// Up to `buffer.count` bytes at `offset`; 0 at the end of the file.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return try retrying("pread", path: path) { pread(rawValue, base, buffer.count, off_t(truncatingIfNeeded: offset)) }
    }

    /// Up to `buffer.count` bytes at the current position; 0 at the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return try retrying("read", path: path) { Glibc.read(rawValue, base, buffer.count) }
    }

    /// The whole file from the current position, at most `limit` bytes
    /// (a little more when the last read overshoots).
    public func readToEnd(limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = try buf.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// One `write(2)` call; returns how many bytes it took.
    public func writeOnce(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        return try retrying("write", path: path) { Glibc.write(rawValue, base, bytes.count) }
    }

    /// All of `bytes` at the current position.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            done += try retrying("write", path: path) { Glibc.write(rawValue, base + done, bytes.count - done) }
        }
    }

    /// All of `bytes` at `offset`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let position = off_t(truncatingIfNeeded: offset &+ UInt64(done))
            done += try retrying("pwrite", path: path) { pwrite(rawValue, base + done, bytes.count - done, position) }
        }
    }

    public func truncate(to size: UInt64) throws {
        _ = try retrying("ftruncate", path: path) { ftruncate(rawValue, off_t(truncatingIfNeeded: size)) }
    }

    public func sync() throws {
        _ = try retrying("fsync", path: path) { fsync(rawValue) }
    }
}

/// File-system calls that take a path.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `stat(2)`, or nil when the path does not resolve.
    public static func status(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }

    public static func status(_ path: String, call: String = "stat") throws -> stat {
        var st = stat()
        _ = try checked(call, path: path) { stat(path, &st) }
        return st
    }

    public static func isDirectory(_ path: String) -> Bool {
        status(path).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
    }

    /// Makes `path` a directory unless it is one already.
    public static func makeDirectory(_ path: String, permissions: mode_t) throws {
        if mkdir(path, permissions) != 0 && errno != EEXIST { throw Errno(call: "mkdir", path: path) }
    }

    public static func rename(_ from: String, to: String) throws {
        _ = try checked("rename", path: to) { Glibc.rename(from, to) }
    }

    public static func remove(_ path: String) { unlink(path) }

    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// A directory's entries (not `.` and `..`), in the order the directory
    /// gives them, with whether each is a directory by its `d_type` (no
    /// `stat`); empty when it cannot be read.
    public static func entries(_ dir: String) -> [(name: String, isDirectory: Bool)] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var result: [(name: String, isDirectory: Bool)] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: e.pointee.d_name)) { String(cString: $0) }
            }
            if name != "." && name != ".." { result.append((name, e.pointee.d_type == UInt8(DT_DIR))) }
        }
        return result
    }
}
