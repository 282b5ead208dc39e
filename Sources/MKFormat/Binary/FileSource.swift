#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MKSystem

/// Random-access, read-only view of a file through `pread`. Reads past the end
/// are errors naming the file and offset; holes in sparse files read as zeros.
public final class FileSource: @unchecked Sendable {
    public let path: String
    public let size: UInt64
    private let file: FileDescriptor

    public init(path: String) throws {
        self.path = path
        let file: FileDescriptor
        let st: stat
        do {
            file = try FileDescriptor(open: path, O_RDONLY)
        } catch let e as Errno {
            throw FormatError(.io, file: path, "cannot open: \(e.reason)")
        }
        do {
            st = try file.status()
        } catch let e as Errno {
            throw FormatError(.io, file: path, "cannot stat: \(e.reason)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw FormatError(.io, file: path, "is a directory, expected a memory image file")
        }
        self.file = file
        self.size = UInt64(max(0, st.st_size))
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return }
            guard let position = checkedAdd(offset, UInt64(done)), position <= UInt64(Int64.max) else {
                throw FormatError(.truncated, file: path, offset: offset, "offset out of range")
            }
            let n: Int
            do {
                n = try file.read(at: position, into: UnsafeMutableRawBufferPointer(start: base + done, count: buffer.count - done))
            } catch let e as Errno {
                throw FormatError(.io, file: path, offset: position, "read failed: \(e.reason)")
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
        do {
            return try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
        } catch let e as Errno {
            throw FormatError(.io, file: path, offset: offset, "read failed: \(e.reason)")
        }
    }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        // Not zero-filled first: the read fills every byte or throws (a 6 MB index costs one pass).
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
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
