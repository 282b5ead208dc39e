import CLzo
import CSnappy
import CZlib
import CZstd

/// The one place that calls the C decompression libraries. Every call takes
/// bounded input and output buffers and returns how many bytes it really
/// produced, or throws a `Decompressor.Failure` that says what went wrong.
enum Decompressor {
    /// The compression methods a kdump page descriptor can name.
    enum Method: String, Sendable {
        case zlib, lzo, snappy, zstd
    }

    struct Failure: Error, CustomStringConvertible {
        let method: Method
        let detail: String
        var description: String { "\(method.rawValue) decompression failed: \(detail)" }
    }

    /// Decompresses `input` into `output` and returns the number of bytes
    /// written, which is never more than `output.count`.
    static func decompress(_ method: Method, _ input: UnsafeRawBufferPointer,
                           into output: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let src = input.baseAddress, input.count > 0 else {
            throw Failure(method: method, detail: "no compressed bytes")
        }
        guard let dst = output.baseAddress, output.count > 0 else {
            throw Failure(method: method, detail: "no room for output")
        }
        let produced: Int
        switch method {
        case .zlib: produced = try zlib(src, input.count, dst, output.count)
        case .lzo: produced = try lzo(src, input.count, dst, output.count)
        case .snappy: produced = try snappy(src, input.count, dst, output.count)
        case .zstd: produced = try zstd(src, input.count, dst, output.count)
        }
        guard produced >= 0, produced <= output.count else {
            throw Failure(method: method, detail: "library reported \(produced) bytes for a \(output.count)-byte buffer")
        }
        return produced
    }

    private static func zlib(_ src: UnsafeRawPointer, _ srcCount: Int,
                             _ dst: UnsafeMutableRawPointer, _ dstCount: Int) throws -> Int {
        var length = uLongf(dstCount)
        let rc = uncompress(dst.assumingMemoryBound(to: Bytef.self), &length,
                            src.assumingMemoryBound(to: Bytef.self), uLong(srcCount))
        guard rc == Z_OK else {
            let why: String
            switch rc {
            case Z_BUF_ERROR: why = "output larger than \(dstCount) bytes or input cut short"
            case Z_DATA_ERROR: why = "input is not valid zlib data"
            case Z_MEM_ERROR: why = "out of memory"
            default: why = "zlib error \(rc)"
            }
            throw Failure(method: .zlib, detail: why)
        }
        return Int(length)
    }

    /// `lzo_init()` is a macro over `__lzo_init_v2` that passes the caller's
    /// view of the library's types; Swift cannot import it, so pass them here.
    /// Runs once (a lazily initialised static is thread-safe).
    static let lzoReady: Bool = {
        __lzo_init_v2(UInt32(LZO_VERSION),
                      Int32(MemoryLayout<CShort>.size), Int32(MemoryLayout<CInt>.size),
                      Int32(MemoryLayout<CLong>.size), Int32(MemoryLayout<UInt32>.size /* lzo_uint32_t, a macro type */),
                      Int32(MemoryLayout<lzo_uint>.size), Int32(MemoryLayout<UnsafeMutablePointer<UInt8>>.size),
                      Int32(MemoryLayout<UnsafeMutablePointer<CChar>>.size), Int32(MemoryLayout<UnsafeMutableRawPointer>.size),
                      Int32(MemoryLayout<lzo_callback_t>.size)) == LZO_E_OK
    }()

    private static func lzo(_ src: UnsafeRawPointer, _ srcCount: Int,
                            _ dst: UnsafeMutableRawPointer, _ dstCount: Int) throws -> Int {
        guard lzoReady else { throw Failure(method: .lzo, detail: "lzo_init failed (library and header disagree)") }
        var length = lzo_uint(dstCount)
        let rc = lzo1x_decompress_safe(UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: UInt8.self)),
                                       lzo_uint(srcCount),
                                       dst.assumingMemoryBound(to: UInt8.self), &length, nil)
        guard rc == LZO_E_OK else {
            let why: String
            switch rc {
            case LZO_E_INPUT_OVERRUN: why = "input cut short"
            case LZO_E_OUTPUT_OVERRUN: why = "output larger than \(dstCount) bytes"
            case LZO_E_LOOKBEHIND_OVERRUN: why = "back-reference before the start of the output"
            case LZO_E_INPUT_NOT_CONSUMED: why = "trailing bytes after the compressed data"
            case LZO_E_EOF_NOT_FOUND: why = "no end-of-stream marker"
            default: why = "lzo error \(rc)"
            }
            throw Failure(method: .lzo, detail: why)
        }
        return Int(length)
    }

    private static func snappy(_ src: UnsafeRawPointer, _ srcCount: Int,
                               _ dst: UnsafeMutableRawPointer, _ dstCount: Int) throws -> Int {
        let input = src.assumingMemoryBound(to: CChar.self)
        var expected = 0
        guard snappy_uncompressed_length(input, srcCount, &expected) == SNAPPY_OK else {
            throw Failure(method: .snappy, detail: "input is not valid snappy data")
        }
        guard expected <= dstCount else {
            throw Failure(method: .snappy, detail: "output would be \(expected) bytes, more than \(dstCount)")
        }
        var length = dstCount
        let rc = snappy_uncompress(input, srcCount, dst.assumingMemoryBound(to: CChar.self), &length)
        guard rc == SNAPPY_OK else {
            throw Failure(method: .snappy, detail: rc == SNAPPY_BUFFER_TOO_SMALL
                          ? "output larger than \(dstCount) bytes" : "input is not valid snappy data")
        }
        return length
    }

    private static func zstd(_ src: UnsafeRawPointer, _ srcCount: Int,
                             _ dst: UnsafeMutableRawPointer, _ dstCount: Int) throws -> Int {
        let rc = ZSTD_decompress(dst, dstCount, src, srcCount)
        if ZSTD_isError(rc) != 0 {
            let name = ZSTD_getErrorName(rc).map { String(cString: $0) } ?? "zstd error"
            throw Failure(method: .zstd, detail: name)
        }
        return Int(rc)
    }
}
