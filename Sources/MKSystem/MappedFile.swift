#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only: its bytes are the page cache's, so a
/// large index costs no copy, and only the pages read count in RSS.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`; files over `limit` bytes, empty ones and failures throw `Errno`.
    public init(path: String, limit: Int) throws {
        let fd = try FileDescriptor(open: path, O_RDONLY | O_CLOEXEC)
        let st = try fd.status()
        guard st.st_size > 0, st.st_size <= limit else { throw Errno(EFBIG, call: "mmap", path: path) }
        let size = Int(st.st_size)
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd.rawValue, 0), p != MAP_FAILED else {
            throw Errno(call: "mmap", path: path)
        }
        self.path = path
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
