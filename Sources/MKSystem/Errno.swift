#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the `errno` code, the call and the path it was
/// about. The only place that turns a code into the C library's text.
public struct Errno: Error, Equatable, CustomStringConvertible {
    public let code: Int32
    public let call: String
    public let path: String?

    /// Captures `errno` as it is now (read it before any other call).
    public init(_ code: Int32 = errno, call: String, path: String? = nil) {
        self.code = code
        self.call = call
        self.path = path
    }

    /// The C library's text for the code ("No such file or directory").
    public var reason: String { Self.text(code) }

    /// The text for `errno` as it is now, for messages composed elsewhere.
    public static var currentReason: String { text(errno) }

    public static func text(_ code: Int32) -> String { String(cString: strerror(code)) }

    public var description: String {
        (path.map { "\($0): " } ?? "") + "\(call): \(reason)"
    }
}
