#if canImport(Glibc)
import Glibc
#endif

/// Small-file access for kernfs and procfs: read to EOF (sizes there lie),
/// write a whole value in one `write()`.
enum KernfsFile {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func read(_ path: String, limit: Int = 1 << 22) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MultikernelError.readFailed(path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MultikernelError.readFailed(path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    static func text(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MultikernelError.writeFailed(path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count {
            throw MultikernelError.writeFailed(path, reason: n < 0 ? String(cString: strerror(errno)) : "short write")
        }
    }

    static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
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
