#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// A kernel module's debug file (`NAME.ko` with DWARF, an ELF relocatable
/// object), found in the symbol store by build-id or by name and release.
///
/// Store layout (symbols/README.md): `.build-id/ab/cdef….debug` (the
/// module's own GNU build-id), `modules/<release>/NAME.ko`, or anywhere
/// under `modules/<release>/` or `lib/modules/<release>/` (Debian's
/// `/usr/lib/debug` layout). Names are tried as given and with `_` and
/// `-` swapped: the kernel reports `pvpanic_pci` for `pvpanic-pci.ko`.
public final class ModuleDebugFile {
    public let path: String
    public let buildId: String?
    /// It has a `.debug_info` section.
    public let hasDWARF: Bool
    /// Symbols in its `.symtab`.
    public let symbolCount: Int
    let file: LibElfFile

    public init(path: String) throws {
        let file = try LibElfFile(path: path)
        guard file.elfType == 1 else {
            throw DebugInfoError.mismatch(vmlinux: path, detail: "it is not a relocatable ELF file (e_type \(file.elfType)); expected a kernel module")
        }
        self.file = file
        self.path = path
        self.buildId = file.buildId
        self.hasDWARF = file.sections().contains { $0.name == ".debug_info" }
        self.symbolCount = file.symbols().count
    }

    /// The module's name as its file gives it (`pvpanic-pci` for `pvpanic-pci.ko.debug`).
    public var moduleName: String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".debug", ".ko"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
        return base
    }

    /// Its DWARF through libdwfl (relocations applied), opened on first use.
    public private(set) lazy var dwarf: Result<ModuleDwarf, Error> = Result {
        guard hasDWARF else {
            throw DebugInfoError.cannotOpen(path: path, reason: "it has no DWARF (.debug_info)")
        }
        return try ModuleDwarf(path: path, name: moduleName)
    }
}

extension SymbolStore {
    /// Where a module's debug file may be, in search order (build-id first).
    public func moduleCandidates(name: String, release: String?, buildId: String?) -> [String] {
        let names = Array(Set([name, name.replacingAll("_", "-"), name.replacingAll("-", "_")])).sorted()
        var paths: [String] = []
        for root in roots {
            if let id = buildId, id.count > 2 {
                paths.append("\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug")
            }
            guard let release else { continue }
            for n in names {
                paths.append("\(root)/modules/\(release)/\(n).ko")
                paths.append("\(root)/modules/\(release)/\(n).ko.debug")
            }
            for dir in ["\(root)/modules/\(release)", "\(root)/lib/modules/\(release)"] {
                paths += Self.findFiles(under: dir, named: Set(names.flatMap { ["\($0).ko", "\($0).ko.debug"] }), depth: 8)
            }
        }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The first candidate that opens as a module and, when the loaded
    /// module's build-id is known, carries the same one. `searched` lists
    /// the roots for the error message.
    public func findModule(name: String, release: String?, buildId: String?) -> (file: ModuleDebugFile?, rejected: [String]) {
        var rejected: [String] = []
        for path in moduleCandidates(name: name, release: release, buildId: buildId) where FileSystem.isReadable(path) {
            do {
                let f = try ModuleDebugFile(path: path)
                if let want = buildId, let have = f.buildId, want != have {
                    rejected.append("\(path): build-id \(have), the loaded module's is \(want)")
                    continue
                }
                return (f, rejected)
            } catch {
                rejected.append("\(path): \(error)")
            }
        }
        return (nil, rejected)
    }

    static func findFiles(under dir: String, named names: Set<String>, depth: Int) -> [String] {
        guard depth > 0 else { return [] }
        var found: [String] = []
        var subdirs: [String] = []
        for entry in FileSystem.entries(dir) {
            let path = dir + "/" + entry.name
            if names.contains(entry.name) {
                found.append(path)
            } else if entry.isDirectory {
                subdirs.append(path)
            }
        }
        for s in subdirs.sorted() { found += findFiles(under: s, named: names, depth: depth - 1) }
        return found
    }
}

extension String {
    fileprivate func replacingAll(_ a: Character, _ b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
