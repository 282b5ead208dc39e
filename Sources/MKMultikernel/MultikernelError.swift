/// What can go wrong talking to the multikernel kernfs; each message says
/// which file and what to do.
public enum MultikernelError: Error, CustomStringConvertible, Equatable {
    case notMounted(String)
    case unknownInstance(String, known: [String])
    case noKernel(String, status: String)
    case missingFile(String, purpose: String)
    case freezeTimeout(String, seconds: Double)
    case frozenByOther(String)
    case writeFailed(String, reason: String)
    case readFailed(String, reason: String)
    case badFormat(String, detail: String)

    public var description: String {
        switch self {
        case let .notMounted(path):
            return "no multikernel kernfs at \(path): is it mounted (mount -t multikernel none /sys/fs/multikernel), or is --root wrong?"
        case let .unknownInstance(name, known):
            return "no instance named \"\(name)\"; known instances: " + (known.isEmpty ? "none" : known.joined(separator: ", "))
        case let .noKernel(name, status):
            return "instance \(name) is \(status): it runs no kernel, so there is no memory to read"
        case let .missingFile(path, purpose):
            return "\(path) does not exist: this kernel does not offer \(purpose)"
        case let .freezeTimeout(name, seconds):
            return "instance \(name) did not report \"frozen 1\" within \(seconds) s; the freeze request was withdrawn"
        case let .frozenByOther(name):
            return "instance \(name) is already frozen by someone else; mkdbg will read it but will not thaw it"
        case let .writeFailed(path, reason):
            return "cannot write \(path): \(reason)"
        case let .readFailed(path, reason):
            return "cannot read \(path): \(reason)"
        case let .badFormat(path, detail):
            return "\(path): \(detail)"
        }
    }
}
