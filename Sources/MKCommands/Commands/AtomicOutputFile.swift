#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKSystem

/// The file `dump` and `save vmcore` write: an `AtomicFile` (readers see
/// the old file or the whole new one, never a part) that refuses to replace
/// directories and special files, with errors naming the command and path.
final class AtomicOutputFile: CoreOutput {
    let path: String
    private let command: String
    private let file: AtomicFile

    init(path: String, command: String) throws {
        guard !path.isEmpty else { throw CommandError.invalidArgument(path, message: "\(command): expected a file name") }
        if let st = FileSystem.status(path) {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw CommandError.io(path: path, message: "\(command): \(path): is a directory, expected a file to write")
            }
            if (st.st_mode & S_IFMT) != S_IFREG {
                throw CommandError.io(path: path, message: "\(command): \(path): not a regular file; mkdbg replaces files atomically and will not replace this one")
            }
        }
        let (directory, base) = AtomicFile.split(path)
        guard !base.isEmpty else {
            throw CommandError.io(path: path, message: "\(command): \(path): names a directory, expected a file to write")
        }
        let dst: stat
        do {
            dst = try FileSystem.status(directory)
        } catch let e as Errno {
            throw CommandError.io(path: path, message: "\(command): cannot write \(path): directory \(directory): \(e.reason)")
        }
        if (dst.st_mode & S_IFMT) != S_IFDIR {
            throw CommandError.io(path: path, message: "\(command): cannot write \(path): \(directory) is not a directory")
        }
        do {
            file = try AtomicFile(path: path)
        } catch let e as Errno {
            throw CommandError.io(path: path, message: "\(command): cannot write \(path): cannot create a file in \(directory): \(e.reason)")
        }
        self.path = path
        self.command = command
    }

    func write(_ bytes: UnsafeRawBufferPointer, at position: UInt64) throws {
        try failing("cannot write") { try file.write(bytes, at: position) }
    }

    /// Writes at the end of what was appended so far.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        try failing("cannot write") { try file.append(bytes) }
    }

    func finish(size: UInt64) throws {
        try failing("cannot set the size of") { try file.truncate(to: size) }
    }

    /// Flushes the temporary file to disk, closes it and renames it over
    /// `path`: after a crash, `path` is the old file or the whole new one.
    func commit() throws {
        try failing("cannot write") { try file.commit() }
    }

    func discard() { file.discard() }

    private func failing(_ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as Errno {
            throw CommandError.io(path: path, message: "\(command): \(what) \(path): \(e.reason)")
        }
    }

    /// Blocks the file takes on disk, in bytes (after commit).
    static func diskBytes(_ path: String) -> UInt64? {
        FileSystem.status(path).map { UInt64($0.st_blocks) * 512 }
    }
}
