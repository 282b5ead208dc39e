import MKFormat
import MKMemory

/// A kernel's vmlinux: its build-id, its release (from `linux_banner`) and
/// its symbol table.
public final class Vmlinux {
    public let path: String
    public let buildId: String?
    public let fileSize: UInt64
    let file: LibElfFile
    private var rawSymbols: [RawSymbol]?

    public init(path: String) throws {
        let file = try LibElfFile(path: path)
        // ET_EXEC, or ET_DYN as a relocatable kernel is linked with -pie (arm64's).
        guard file.elfType == 2 || file.elfType == 3 else {
            throw DebugInfoError.mismatch(vmlinux: path, detail: "it is not an executable ELF file (e_type \(file.elfType)); expected a vmlinux")
        }
        self.file = file
        self.path = path
        self.buildId = file.buildId
        self.fileSize = (try? FileSource(path: path).size) ?? 0
    }

    func symbols() throws -> [RawSymbol] {
        if let rawSymbols { return rawSymbols }
        let raw = file.symbols()
        guard !raw.isEmpty else { throw DebugInfoError.noSymbols(path: path) }
        rawSymbols = raw
        return raw
    }

    /// The symbol table relocated by `kaslrOffset`: from its file in
    /// `cacheDirectory` when that is valid, else from the ELF symbol table
    /// (and then saved there).
    public func symbolTable(kaslrOffset: UInt64, space: KernelSpace, cacheDirectory: String? = nil) throws -> SymbolTable {
        let id = buildId ?? ""
        let path = cacheDirectory.flatMap { dir in buildId.map { "\(dir)/\($0).mksym" } }
        if let path, let valid = try? SymbolFile.read(path: path, buildId: id, vmlinuxSize: fileSize) {
            return SymbolTable(file: valid, kaslrOffset: kaslrOffset, space: space)
        }
        let bytes = SymbolFile.encode(try symbols(), buildId: id, vmlinuxSize: fileSize, imageBase: space.imageBase)
        let valid = try SymbolFile.validate(bytes, path: path ?? "(in memory)", buildId: id, vmlinuxSize: fileSize)
        if let path { try? IndexFile.writeAtomically(bytes, path: path) }
        return SymbolTable(file: valid, kaslrOffset: kaslrOffset, space: space)
    }

    /// Name of the allocated section holding a link-time address.
    public func sectionName(linkAddress: UInt64) -> String? {
        file.sections().first { $0.address != 0 && linkAddress >= $0.address && linkAddress - $0.address < $0.size }?.name
    }

    /// The `linux_banner` string as linked, e.g. "Linux version 6.1.0-… (…".
    public var banner: String? {
        guard let raw = try? symbols(), let sym = raw.first(where: { $0.name == "linux_banner" }),
              let bytes = file.bytes(atAddress: sym.value, count: 512) else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The release from the banner: the word after "Linux version".
    public var release: String? {
        guard let banner, banner.hasPrefix("Linux version ") else { return nil }
        return banner.dropFirst("Linux version ".count).split(separator: " ").first.map(String.init)
    }

    /// Throws unless this vmlinux is the build the image's VMCOREINFO names:
    /// by build-id when it has one, else by release.
    public func checkMatches(_ info: VmcoreInfo) throws {
        if let imageId = info.buildId, !imageId.isEmpty, let mine = buildId {
            // VMCOREINFO may carry a truncated build-id; compare the common prefix.
            let n = min(imageId.count, mine.count)
            if n >= 16 && imageId.prefix(n) == mine.prefix(n) { return }
            throw DebugInfoError.mismatch(vmlinux: path, detail: "image build-id \(imageId), vmlinux build-id \(mine)")
        }
        if let imageRelease = info.osRelease, let mine = release, imageRelease != mine {
            throw DebugInfoError.mismatch(vmlinux: path, detail: "image release \(imageRelease), vmlinux release \(mine)")
        }
    }
}
