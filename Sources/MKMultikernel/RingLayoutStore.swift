import MKDebugInfo

/// The layout files of the known kernel eras: `layouts/*.json` in each
/// symbol store root (`$MKDBG_SYMBOLS`, `./symbols`, the project's
/// `symbols/`), the first root holding an era winning.
public struct RingLayoutStore {
    public var directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    public static func standard() -> RingLayoutStore {
        RingLayoutStore(directories: SymbolStore.standard().roots.filter { $0 != "/usr/lib/debug" }.map { $0 + "/layouts" })
    }

    /// Every readable layout, newest (highest rank) first, and the files
    /// that could not be used.
    public func all() -> (layouts: [RingLayout], problems: [String]) {
        var seen = Set<String>()
        var layouts: [RingLayout] = []
        var problems: [String] = []
        for dir in directories where KernfsFile.isDirectory(dir) {
            for name in KernfsFile.list(dir) where name.hasSuffix(".json") {
                do {
                    let l = try RingLayoutFile.load(path: dir + "/" + name)
                    if seen.insert(l.era).inserted { layouts.append(l) }
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        return (layouts.sorted { $0.rank > $1.rank }, problems)
    }

    /// An era by name or alias (`14213ee5`, `newest`), or a layout file's path.
    public func layout(named name: String) throws -> RingLayout {
        if name.contains("/") || name.hasSuffix(".json") { return try RingLayoutFile.load(path: name) }
        let (layouts, problems) = all()
        if let l = layouts.first(where: { $0.era == name || $0.aliases.contains(name) }) { return l }
        throw MultikernelError.badFormat(directories.first ?? "symbols/layouts",
                                         detail: "no ring layout named \"\(name)\"; known: "
                                            + (layouts.isEmpty ? "none" : layouts.map { ([$0.era] + $0.aliases).joined(separator: "/") }.joined(separator: ", "))
                                            + (problems.isEmpty ? "" : " (unusable: " + problems.joined(separator: "; ") + ")"))
    }

    /// The newest era known.
    public func newest() throws -> RingLayout {
        let (layouts, problems) = all()
        guard let l = layouts.first else {
            throw MultikernelError.badFormat(directories.first ?? "symbols/layouts",
                                             detail: "no ring layout files found (looked in " + directories.joined(separator: ", ") + ")"
                                                + (problems.isEmpty ? "" : "; unusable: " + problems.joined(separator: "; ")))
        }
        return l
    }
}
