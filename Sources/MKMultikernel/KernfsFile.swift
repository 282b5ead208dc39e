#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// Small-file access for kernfs and procfs: read to EOF (sizes there lie),
/// write a whole value in one `write()`.
enum KernfsFile {
    static func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    static func isDirectory(_ path: String) -> Bool { FileSystem.isDirectory(path) }

    static func read(_ path: String, limit: Int = 1 << 22) throws -> [UInt8] {
        do {
            return try FileDescriptor(open: path, O_RDONLY).readToEnd(limit: limit)
        } catch let e as Errno {
            throw MultikernelError.readFailed(path, reason: e.reason)
        }
    }

    static func text(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    static func write(_ path: String, _ text: String) throws {
        let bytes = Array(text.utf8)
        do {
            let file = try FileDescriptor(open: path, O_WRONLY)
            // One write: kernfs takes a value per write call.
            let n = try bytes.withUnsafeBytes { try file.writeOnce($0) }
            if n != bytes.count { throw MultikernelError.writeFailed(path, reason: "short write") }
        } catch let e as Errno {
            throw MultikernelError.writeFailed(path, reason: e.reason)
        }
    }

    static func list(_ dir: String) -> [String] {
        FileSystem.entries(dir).map(\.name).sorted()
    }

    /// `"<phys-hex> <size-hex>\n"`, as vmcoreinfo and ipi_buffer print.
    static func physAndSize(_ path: String) throws -> (UInt64, UInt64) {
        let words = try text(path).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count >= 2, let a = UInt64(words[0].dropHexPrefix, radix: 16), let s = UInt64(words[1].dropHexPrefix, radix: 16) else {
            throw MultikernelError.badFormat(path, detail: "expected \"<phys-hex> <size-hex>\"")
        }
        return (a, s)
    }
}

extension Substring {
    var dropHexPrefix: Substring { hasPrefix("0x") ? dropFirst(2) : self }
}
