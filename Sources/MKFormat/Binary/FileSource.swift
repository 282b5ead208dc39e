#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random-access, read-only view of a file through `pread`. Reads past the end
/// are errors naming the file and offset; holes in sparse files read as zeros.
public final class FileSource: @unchecked Sendable {
    public let path: String
    public let size: UInt64
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw FormatError(.io, file: path, "cannot stat: \(message)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FormatError(.io, file: path, "is a directory, expected a memory image file")
        }
        self.fd = fd
        self.size = UInt64(max(0, st.st_size))
    }

    deinit { close(fd) }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return }
            guard let position = checkedAdd(offset, UInt64(done)), position <= UInt64(Int64.max) else {
                throw FormatError(.truncated, file: path, offset: offset, "offset out of range")
            }
            let n = pread(fd, base + done, buffer.count - done, off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(.io, file: path, offset: position, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw FormatError(.truncated, file: path, offset: position,
                                  "file ends at \(hex(size)) but \(buffer.count - done) more bytes were expected")
            }
            done += n
        }
    }

    /// Reads what is there, up to `buffer.count` bytes (for files whose
    /// size is not known up front, like kernfs's); 0 at the end.
    public func readAvailable(at offset: UInt64, into buffer: inout [UInt8]) throws -> Int {
        guard offset <= UInt64(Int64.max) else { return 0 }
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw FormatError(.io, file: path, offset: offset, "read failed: \(String(cString: strerror(errno)))") }
            return n
        }
    }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        return bytes
    }

    /// Like `read(at:count:)` but requires the range to lie within the file,
    /// with a message that says which structure was expected there.
    public func read(at offset: UInt64, count: Int, expecting what: String) throws -> [UInt8] {
        guard let end = checkedAdd(offset, UInt64(count)), end <= size else {
            throw FormatError(.truncated, file: path, offset: offset,
                              "expected \(what) (\(count) bytes) but the file is only \(size) bytes")
        }
        return try read(at: offset, count: count)
    }
}
