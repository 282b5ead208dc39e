import Dispatch
import MKFormat
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// Everything mkdbg knows from one vmlinux's DWARF: the name index and the
/// types parsed from it so far. Shared by every target of the same build-id.
public final class DebugInfo {
    public let vmlinux: Vmlinux
    let dwarf: DwarfFile
    /// The name index; with a deferred index, obtained on first use (see `obtainIndex`).
    public var index: NameIndex {
        if let loadedIndex { return loadedIndex }
        let i = obtainIndex()
        loadedIndex = i
        return i
    }
    private var loadedIndex: NameIndex?
    /// Whether the index is in memory (a deferred one may not be yet).
    public var hasIndex: Bool { loadedIndex != nil }
    private let indexPath: String?
    /// How the index was obtained, for `info debuginfo`.
    public private(set) var indexSource: String
    lazy var types = TypeCache(debugInfo: self)

    /// The vmlinux's ORC table and `struct orc_entry` layout, once read (Orc.swift).
    var orcTableCache: OrcTable?
    var orcFormatCache: OrcFormat?
    /// Per-pc answers that `foreach bt` asks again and again (every sleeping task
    /// stops in the same few functions): libdw's scope and CFI lookups are slow.
    var frameFunctionsMemo: [UInt64: [FrameFunction]] = [:]
    var callFrameRowMemo: [CallFrameKey: DwarfCFIRow?] = [:]
    static let memoLimit = 1 << 16

    struct CallFrameKey: Hashable {
        var address: UInt64
        var registers: [Int]
    }

    /// Debug info already opened, by build-id and thread: a DebugInfo (its
    /// type cache, its libdw handle) is not thread-safe, so only the thread
    /// that opened it reuses it (tests open the same vmlinux on many threads).
    private struct SharedKey: Hashable {
        var buildId: String
        var thread: UInt
    }
    private static let sharedLock = Mutex()
    private static var shared: [SharedKey: DebugInfo] = [:]

    /// The debug info for a vmlinux, reused when the same build-id was
    /// opened before in this process by this thread.
    public static func load(_ vmlinux: Vmlinux, cacheDirectory: String?, deferIndex: Bool = false) throws -> DebugInfo {
        let key = vmlinux.buildId.map { SharedKey(buildId: $0, thread: ThreadIdentity.current) }
        if let key, let d = sharedLock.withLock({ shared[key] }) { return d }
        let d = try DebugInfo(vmlinux: vmlinux, cacheDirectory: cacheDirectory, deferIndex: deferIndex)
        if let key { sharedLock.withLock { shared[key] = d } }
        return d
    }

    /// Whether the index file for `vmlinux` is in `cacheDirectory` (and loads).
    public static func indexIsSaved(_ vmlinux: Vmlinux, cacheDirectory: String?) -> Bool {
        guard let cacheDirectory, let id = vmlinux.buildId else { return false }
        return FileSystem.exists(IndexBuild.indexPath(directory: cacheDirectory, buildId: id))
    }

    /// With `deferIndex`, a missing index is not built here but on first
    /// use of `index` (by then a background build may have saved it).
    init(vmlinux: Vmlinux, cacheDirectory: String?, deferIndex: Bool = false) throws {
        self.vmlinux = vmlinux
        self.dwarf = try DwarfFile(elf: vmlinux.file)
        indexPath = cacheDirectory.flatMap { dir in vmlinux.buildId.map { IndexBuild.indexPath(directory: dir, buildId: $0) } }
        if let indexPath, let loaded = try? IndexFile.read(path: indexPath, buildId: vmlinux.buildId ?? "", vmlinuxSize: vmlinux.fileSize) {
            loadedIndex = loaded
            indexSource = "loaded from \(indexPath)"
            return
        }
        indexSource = "not built yet"
        if !deferIndex { loadedIndex = try buildOrWait() }
    }

    /// The index when first needed: a deferred build's errors become an
    /// empty index, with the reason in `indexSource`.
    private func obtainIndex() -> NameIndex {
        do {
            return try buildOrWait()
        } catch {
            indexSource = "could not be built: \(error)"
            let empty = IndexFile.encode(NameIndexBuilder(), buildId: vmlinux.buildId ?? "", vmlinuxSize: vmlinux.fileSize)
            return (try? IndexFile.validate(empty, path: "(empty)", buildId: vmlinux.buildId ?? "", vmlinuxSize: vmlinux.fileSize))
                ?? NameIndex(storage: IndexBytes(copying: empty), entriesStart: empty.count - 8, count: 0, namesStart: empty.count - 8)
        }
    }

    /// Waits for another process's build (the lock), loads what it saved,
    /// else builds here with the lock held and saves.
    private func buildOrWait() throws -> NameIndex {
        let id = vmlinux.buildId ?? ""
        let waited = Stopwatch()
        let lock = indexPath.flatMap(IndexBuild.acquire)
        if let indexPath, let loaded = try? IndexFile.read(path: indexPath, buildId: id, vmlinuxSize: vmlinux.fileSize) {
            indexSource = "loaded from \(indexPath) after waiting \(String(format1: waited.seconds)) s for its build"
            return loaded
        }
        let clock = Stopwatch()
        let (bytes, how) = try Self.indexBytes(vmlinux: vmlinux, dwarf: dwarf)
        let built = try IndexFile.validate(bytes, path: indexPath ?? "(in memory)", buildId: id, vmlinuxSize: vmlinux.fileSize)
        indexSource = "built in \(String(format1: clock.seconds)) s \(how)"
        if let indexPath {
            do {
                try IndexFile.writeAtomically(bytes, path: indexPath)
                indexSource += ", saved to \(indexPath)"
            } catch {
                indexSource += ", not saved: \(error)"
            }
        }
        withExtendedLifetime(lock) {}
        return built
    }

    /// The index file's bytes: from the own DIE scanner, or through libdw
    /// when the scanner meets DWARF it leaves to libdw.
    static func indexBytes(vmlinux: Vmlinux, dwarf: DwarfFile) throws -> (bytes: [UInt8], how: String) {
        let id = vmlinux.buildId ?? ""
        do {
            let names = try DwarfIndexScan.build(vmlinux.file)
            return (IndexFile.encode(names, buildId: id, vmlinuxSize: vmlinux.fileSize), "by the DIE scanner")
        } catch let error as DwarfScanError {
            let built = try Self.build(vmlinux: vmlinux, dwarf: dwarf)
            return (IndexFile.encode(built, buildId: id, vmlinuxSize: vmlinux.fileSize), "through libdw (the DIE scanner stopped at \(error))")
        }
    }

    /// Scans every compile unit, split across the machine's cores; each
    /// worker opens its own libdw handle (libdw handles are not
    /// thread-safe). A worker whose handle does not open leaves its units
    /// to be scanned afterwards on `dwarf`, so the index is always whole.
    static func build(vmlinux: Vmlinux, dwarf: DwarfFile, workers requested: Int? = nil,
                      openWorkerDwarf: (Vmlinux) -> DwarfFile? = DebugInfo.openDwarf) throws -> NameIndexBuilder {
        let units = dwarf.unitOffsets()
        let workers = requested ?? max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        if workers == 1 || units.count < 64 {
            var index = NameIndexBuilder.scan(dwarf, units: units[...])
            index.finish()
            return index
        }
        // Split by position in .debug_info so each worker gets a similar byte share.
        let total = units.last ?? 0
        var bounds: [Int] = [0]
        for w in 1..<workers {
            let target = total / UInt64(workers) * UInt64(w)
            let i = units.firstIndex { $0 >= target } ?? units.count
            bounds.append(max(i, bounds.last ?? 0))
        }
        bounds.append(units.count)
        var parts = [NameIndexBuilder?](repeating: nil, count: workers)
        let lock = Mutex()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let slice = units[bounds[w]..<bounds[w + 1]]
            let part: NameIndexBuilder?
            if w == 0 {
                part = NameIndexBuilder.scan(dwarf, units: slice)
            } else if let d = openWorkerDwarf(vmlinux) {
                part = NameIndexBuilder.scan(d, units: slice)
            } else {
                part = nil
            }
            lock.withLock { parts[w] = part }
        }
        // Merge in unit order so "first definition" means the same as a serial scan.
        func part(_ w: Int) -> NameIndexBuilder { parts[w] ?? NameIndexBuilder.scan(dwarf, units: units[bounds[w]..<bounds[w + 1]]) }
        var index = part(0)
        for w in 1..<workers { index.merge(part(w)) }
        index.finish()
        return index
    }

    /// A worker's own libdw handle on the vmlinux; nil when it cannot be opened.
    static func openDwarf(_ vmlinux: Vmlinux) -> DwarfFile? {
        guard let elf = try? LibElfFile(path: vmlinux.path) else { return nil }
        return try? DwarfFile(elf: elf)
    }
}



extension String {
    init(format1 value: Double) {
        let scaled = (value * 100).rounded() / 100
        self = String(scaled)
    }
}
