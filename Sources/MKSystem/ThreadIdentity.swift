#if canImport(Glibc)
import Glibc
#endif

/// Which thread is running: for caches of objects that are not thread-safe
/// and so may be reused only by the thread that made them.
public enum ThreadIdentity {
    public static var current: UInt { UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) }
}
