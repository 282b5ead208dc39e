import MKFormat
import MKMemory
#if canImport(Glibc)
import Glibc
#endif

/// A kernel opened for debugging: its memory image, the address translation
/// built from VMCOREINFO, and the matching vmlinux's symbols.
public final class Target {
    public struct Options {
        public var vmlinuxPath: String?
        public var ignoreMismatch = false
        /// Use no vmlinux even when one matches (`--no-debuginfo`).
        public var noDebugInfo = false
        /// On a first start (no DWARF index saved for the vmlinux), answer
        /// from the kernel's BTF and build the index in a background process
        /// instead of before the first answer (the command line's default).
        public var deferDwarfIndex = false
        public var store = SymbolStore.standard()
        public init(vmlinuxPath: String? = nil, ignoreMismatch: Bool = false) {
            self.vmlinuxPath = vmlinuxPath
            self.ignoreMismatch = ignoreMismatch
        }
    }

    public let image: CoreImage
    public let memory: KernelMemory
    public let vmlinux: Vmlinux?
    public let symbols: SymbolTable?
    /// Where `symbols` came from.
    public let symbolSource: SymbolSource
    /// Why no vmlinux is loaded, or a mismatch that was overridden.
    public private(set) var symbolProblem: String?

    public convenience init(imagePath: String, options: Options = Options()) throws {
        try self.init(image: try ImageOpener.open(imagePath), options: options)
    }

    private let deferDwarfIndex: Bool
    /// The background index build this target started, if any (reaped when done).
    public private(set) var backgroundIndexBuild: pid_t?

    public init(image: CoreImage, options: Options = Options()) throws {
        self.image = image
        self.deferDwarfIndex = options.deferDwarfIndex
        self.memory = try KernelMemory(image: image)
        let info = image.vmcoreInfo

        var vmlinux: Vmlinux?
        var problem: String?
        if options.noDebugInfo {
            problem = "--no-debuginfo: no vmlinux is used"
        } else if let path = options.vmlinuxPath {
            let v = try Vmlinux(path: path)
            if let info {
                do {
                    try v.checkMatches(info)
                } catch let error as DebugInfoError {
                    guard options.ignoreMismatch else { throw error }
                    problem = "\(error) (ignored)"
                }
            }
            vmlinux = v
        } else if let info {
            do {
                vmlinux = try options.store.find(buildId: info.buildId, release: info.osRelease)
                if let v = vmlinux { try v.checkMatches(info) }
            } catch let error as DebugInfoError {
                problem = error.description
                vmlinux = nil
            }
        } else {
            problem = "no VMCOREINFO in the image to find a vmlinux by; pass -s VMLINUX"
        }
        self.vmlinux = vmlinux
        self.symbolProblem = problem

        let kaslr = memory.addressLayout?.kaslrOffset ?? 0
        guard let space = memory.addressLayout?.space ?? KernelSpace.forMachine(image.elfMachine) else {
            throw LayoutError.unsupportedMachine(image.elfMachine ?? 0, image: image.path)
        }
        let table = try vmlinux.map { try $0.symbolTable(kaslrOffset: kaslr, space: space, cacheDirectory: SymbolStore.indexDirectory(for: $0.path)) }
        if let table, let vmlinux {
            self.symbols = table
            self.symbolSource = .vmlinux(vmlinux.path)
        } else if let info, info.symbol("kallsyms_names") != nil {
            // No vmlinux: the kernel's own symbol table, from its memory.
            do {
                let own = try SymbolTable.fromKallsyms(Kallsyms.readTable(memory: memory, vmcoreInfo: info, image: image.path), space: space)
                // Without CONFIG_KALLSYMS_ALL (Debian's cloud-arm64) kallsyms has text symbols only:
                // VMCOREINFO names some data (init_uts_ns, prb, swapper_pg_dir).
                for (key, value) in info.entries where key.hasPrefix("SYMBOL(") && key.hasSuffix(")") {
                    guard let address = UInt64(value, radix: 16) else { continue }
                    own.addDerived(String(key.dropFirst(7).dropLast()), address: address, how: "VMCOREINFO")
                }
                self.symbols = own
                self.symbolSource = .kallsyms(count: own.count)
                self.symbolProblem = (problem.map { $0 + "; " } ?? "")
                    + "symbols from the kernel's kallsyms in memory (\(own.count)), types from its BTF: no source lines or locals without the vmlinux"
            } catch let error as KallsymsError {
                self.symbols = nil
                self.symbolSource = .none
                self.symbolProblem = (problem.map { $0 + "; " } ?? "") + "no kallsyms either: \(error)"
            }
        } else {
            self.symbols = nil
            self.symbolSource = .none
        }
        // After the symbols: without a vmlinux, kallsyms (read through the kernel image's map) knows page_offset_base.
        let directMapBase = memory.addressLayout?.directMapBaseVariable
        try memory.setPageOffsetBase(fromVariableAt: directMapBase.flatMap { info?.symbol($0) ?? symbols?.lookup($0)?.address })
        memory.setKernelImageEnd(symbols?.lookup("_end")?.address)
    }

    private var loadedDebugInfo: DebugInfo?

    /// The vmlinux's DWARF, indexed on first use (or loaded from the index
    /// saved in the symbol store).
    public func requireDebugInfo() throws -> DebugInfo {
        if let loadedDebugInfo { return loadedDebugInfo }
        guard let vmlinux else { throw TargetError.noSymbols(symbolProblem ?? "no vmlinux loaded") }
        let d = try DebugInfo.load(vmlinux, cacheDirectory: SymbolStore.indexDirectory(for: vmlinux.path), deferIndex: deferDwarfIndex)
        loadedDebugInfo = d
        return d
    }

    private var loadedTypes: (any TypeSource)?

    /// Types: the vmlinux's DWARF when there is one, else the kernel's BTF
    /// read from its memory (once).
    public func requireTypes() throws -> any TypeSource {
        if let loadedTypes { return loadedTypes }
        let types: any TypeSource
        if let vmlinux {
            let d = try requireDebugInfo()
            if deferDwarfIndex, vmlinux.buildId != nil, !d.hasIndex, let symbols, let btf = try? BtfTypes.load(memory: memory, symbols: symbols, image: image.path) {
                if !IndexBuild.isBuilding(IndexBuild.indexPath(directory: SymbolStore.indexDirectory(for: vmlinux.path), buildId: vmlinux.buildId ?? "")) {
                    backgroundIndexBuild = IndexBuild.startInBackground(vmlinuxPath: vmlinux.path)
                }
                types = BtfFirstTypes(btf: btf, dwarf: d, symbols: symbols)
            } else {
                types = d
            }
        } else {
            guard let symbols else { throw TargetError.noSymbols(symbolProblem ?? "no vmlinux loaded") }
            do {
                if symbols.lookup("__start_BTF") != nil {
                    types = try BtfTypes.load(memory: memory, symbols: symbols, image: image.path)
                } else {
                    // No data symbols in kallsyms: look for the .BTF section in the image's read-only data.
                    let btf = try BtfTypes.scan(memory: memory, from: image.vmcoreInfo?.symbol("kallsyms_names") ?? symbols.lookup("_etext")?.address,
                                                image: image.path)
                    symbols.addDerived("__start_BTF", address: btf.address, size: UInt64(btf.types.file.extent),
                                       how: "found by a scan of the image's read-only data for a BTF header")
                    types = btf.types
                }
            } catch let error as BtfError {
                throw TargetError.noSymbols((symbolProblem.map { $0 + "; " } ?? "") + error.description)
            }
        }
        loadedTypes = types
        return types
    }

    /// Each CPU's per-CPU offset when `__per_cpu_offset` is not a symbol and the
    /// kernel helpers derived them (MKKernel's DerivedSymbols), for every helper on this target.
    public var derivedPerCPUOffsets: [UInt64]?

    /// Symbols from a kallsyms without data symbols (no CONFIG_KALLSYMS_ALL: Debian's cloud-arm64):
    /// globals come only from VMCOREINFO and what the helpers find and check in memory.
    public var lacksDataSymbols: Bool {
        guard case .kallsyms = symbolSource, let symbols else { return false }
        return symbols.lookup("jiffies") == nil
    }

    public func requireSymbols() throws -> SymbolTable {
        guard let symbols else {
            throw TargetError.noSymbols(symbolProblem ?? "no vmlinux loaded")
        }
        return symbols
    }

    /// Address of a symbol: from the vmlinux, else from VMCOREINFO's SYMBOL().
    public func address(of name: String) throws -> UInt64 {
        if let symbols {
            return try symbols.require(name).address
        }
        if let a = image.vmcoreInfo?.symbol(name) { return a }
        throw TargetError.noSymbols("cannot resolve \"\(name)\": " + (symbolProblem ?? "no vmlinux loaded"))
    }
}

public enum TargetError: Error, CustomStringConvertible {
    case noSymbols(String)

    public var description: String {
        switch self {
        case let .noSymbols(why): return why
        }
    }
}
