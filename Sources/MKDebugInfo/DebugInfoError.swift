/// Problems with a vmlinux or with finding one.
public enum DebugInfoError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case notElf(path: String)
    case noSymbols(path: String)
    case notFound(buildId: String?, release: String?, searched: [String])
    case mismatch(vmlinux: String, detail: String)
    case unknownSymbol(String, suggestions: [String])

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .notElf(path):
            return "\(path): not an ELF file, expected a vmlinux"
        case let .noSymbols(path):
            return "\(path): has no symbol table (.symtab); use the unstripped vmlinux from the -dbg package"
        case let .notFound(buildId, release, searched):
            let what = [buildId.map { "build-id \($0)" }, release.map { "release \($0)" }].compactMap { $0 }.joined(separator: ", ")
            return "no vmlinux found for \(what.isEmpty ? "this image" : what); searched: \(searched.joined(separator: ", ")). Pass one with -s VMLINUX, or run scripts/lab fetch"
        case let .mismatch(vmlinux, detail):
            return "\(vmlinux) does not match the image: \(detail). Use the vmlinux of the same build, or --ignore-mismatch to go on anyway"
        case let .unknownSymbol(name, suggestions):
            if suggestions.isEmpty { return "no symbol \"\(name)\"" }
            return "no symbol \"\(name)\"; did you mean \(suggestions.joined(separator: ", "))?"
        }
    }
}

extension DebugInfoError {
    static func noDebugInfo(path: String, reason: String) -> DebugInfoError {
        .cannotOpen(path: path, reason: "no DWARF debug info (\(reason)); use the vmlinux from the -dbg package")
    }
}
