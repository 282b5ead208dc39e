#if canImport(Glibc)
import Glibc
#endif

// The raw C calls the system layer makes, each retried on EINTR where that
// is right and turned into an `Errno` on failure (after swift-system's
// Internals/Syscalls.swift).

/// Runs `call` until it does not fail with EINTR; throws the `Errno` of a failure.
@inline(__always)
func retrying<T: BinaryInteger>(_ name: String, path: String?, _ call: () -> T) throws -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw Errno(code, call: name, path: path)
    }
}

/// Runs `call` once; throws the `Errno` when it returned a negative value.
@inline(__always)
func checked<T: BinaryInteger>(_ name: String, path: String?, _ call: () -> T) throws -> T {
    let result = call()
    if result < 0 { throw Errno(call: name, path: path) }
    return result
}
