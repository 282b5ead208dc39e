#if canImport(Glibc)
import Glibc
#endif

/// A file replaced atomically: bytes go to a new temporary file beside it
/// (same directory, so the final `rename` is atomic), which `commit()`
/// flushes to disk and renames over the path. Readers see the old file or
/// the whole new one, never a part, even after a crash. Not committed, the
/// temporary file is removed (`discard()`, or when the object goes away).
public final class AtomicFile {
    public let path: String
    public let temporaryPath: String
    private let file: FileDescriptor
    private var finished = false

    /// Creates the temporary file in the path's directory, named after its
    /// last component, never reusing an existing one.
    /// Failures throw the `Errno` of `open`, naming the directory.
    public init(path: String, permissions: mode_t = 0o666) throws {
        let (directory, base) = Self.split(path)
        var attempt = 0
        while true {
            let candidate = "\(directory)/.\(base).mkdbg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(attempt)"
            do {
                file = try FileDescriptor(open: candidate, O_WRONLY | O_CREAT | O_EXCL, permissions: permissions)
                temporaryPath = candidate
                break
            } catch let e as Errno where e.code == EEXIST && attempt < 15 {
                attempt += 1
            } catch let e as Errno {
                throw Errno(e.code, call: "open", path: directory)
            }
        }
        self.path = path
    }

    deinit { if !finished { discard() } }

    /// The directory and last component of `path` ("." for a bare name).
    public static func split(_ path: String) -> (directory: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        return (directory, String(path[path.index(after: slash)...]))
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws { try file.writeAll(bytes) }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws { try file.writeAll(bytes, at: offset) }

    public func truncate(to size: UInt64) throws { try file.truncate(to: size) }

    /// fsync, close, rename over `path`; on failure the temporary file is removed.
    public func commit() throws {
        finished = true
        do {
            try file.sync()
            try file.close()
            try FileSystem.rename(temporaryPath, to: path)
        } catch {
            try? file.close()
            FileSystem.remove(temporaryPath)
            throw error
        }
    }

    public func discard() {
        finished = true
        try? file.close()
        FileSystem.remove(temporaryPath)
    }
}
