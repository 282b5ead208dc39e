#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// Finds a kernel's vmlinux by build-id and release. Store layout (see
/// symbols/README.md): `.build-id/ab/cdef….debug` and
/// `by-release/<release>/vmlinux`; the system's `/usr/lib/debug` is searched
/// the same way, plus `/usr/lib/debug/boot/vmlinux-<release>`.
public struct SymbolStore {
    public var roots: [String]

    public init(roots: [String]) {
        self.roots = roots
    }

    /// `$MKDBG_SYMBOLS` (colon-separated), `./symbols`, the project's
    /// `symbols/` next to the built executable, then `/usr/lib/debug`.
    public static func standard(executablePath: String? = nil) -> SymbolStore {
        var roots: [String] = []
        if let env = getenv("MKDBG_SYMBOLS") {
            roots += String(cString: env).split(separator: ":").map(String.init)
        }
        roots.append("symbols")
        if let exe = executablePath ?? Self.currentExecutable() {
            // .build/<triple>/<config>/mkdbg -> project root
            var parts = exe.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if let i = parts.lastIndex(where: { $0.hasPrefix(".build") }) {
                parts = Array(parts[..<i])
                roots.append(parts.joined(separator: "/") + "/symbols")
            }
        }
        roots.append("/usr/lib/debug")
        var seen = Set<String>()
        return SymbolStore(roots: roots.filter { seen.insert($0).inserted })
    }

    /// Where the DWARF index of a vmlinux is kept: `<store>/.index/` for a
    /// vmlinux in a store's `.build-id/` tree, else the user's cache.
    public static func indexDirectory(for vmlinuxPath: String) -> String {
        let parts = vmlinuxPath.split(separator: "/", omittingEmptySubsequences: false)
        if let i = parts.lastIndex(of: ".build-id"), i > 0 {
            return parts[..<i].joined(separator: "/") + "/.index"
        }
        if vmlinuxPath.hasPrefix(".build-id/") { return ".index" }
        if let xdg = getenv("XDG_CACHE_HOME") { return String(cString: xdg) + "/mkdbg/index" }
        if let home = getenv("HOME") { return String(cString: home) + "/.cache/mkdbg/index" }
        return "/tmp/mkdbg-index"
    }

    static func currentExecutable() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Candidate paths, in search order.
    public func candidates(buildId: String?, release: String?) -> [String] {
        var paths: [String] = []
        for root in roots {
            if let id = buildId, id.count > 2 {
                paths.append("\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug")
            }
            if let release {
                paths.append("\(root)/by-release/\(release)/vmlinux")
                paths.append("\(root)/boot/vmlinux-\(release)")
            }
        }
        return paths
    }

    /// The first candidate that exists and matches the build-id (when known).
    public func find(buildId: String?, release: String?) throws -> Vmlinux {
        let paths = candidates(buildId: buildId, release: release)
        for path in paths where FileSystem.isReadable(path) {
            guard let v = try? Vmlinux(path: path) else { continue }
            if let id = buildId, let mine = v.buildId, !mine.hasPrefix(id) && !id.hasPrefix(mine) { continue }
            return v
        }
        throw DebugInfoError.notFound(buildId: buildId, release: release, searched: roots)
    }
}
