import Dispatch
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// Builds the name index with `DieScanner` over the vmlinux's mapped
/// sections, its units split across the machine's cores.
public enum DwarfIndexScan {
    /// The scanned names, merged in unit order and finished; throws
    /// `DwarfScanError` when the DWARF has something the scanner leaves to libdw.
    static func build(_ elf: LibElfFile, workers requested: Int? = nil) throws -> ScannedNames {
        guard let info = elf.mappedSection(named: ".debug_info"), let abbrev = elf.mappedSection(named: ".debug_abbrev") else {
            throw DwarfScanError(offset: 0, section: ".debug_info", problem: "no uncompressed .debug_info and .debug_abbrev")
        }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let sections = DieScanner.Sections(info: info, abbrev: abbrev, str: elf.mappedSection(named: ".debug_str") ?? empty,
                                           lineStr: elf.mappedSection(named: ".debug_line_str") ?? empty,
                                           strOffsets: elf.mappedSection(named: ".debug_str_offsets") ?? empty)
        let units = try DwarfUnitHeader.all(info)
        let workers = max(1, min(requested ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 4, max(1, units.count / 32)))
        // Split by position in .debug_info so each worker gets a similar byte share.
        var bounds = [0]
        for w in 1..<max(workers, 1) {
            let target = info.count / workers * w
            let i = units.firstIndex { $0.start >= target } ?? units.count
            bounds.append(max(i, bounds.last ?? 0))
        }
        bounds.append(units.count)
        var parts = [Result<ScannedNames, Error>?](repeating: nil, count: workers)
        let lock = Mutex()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var scanner = DieScanner(sections: sections, units: units)
            let r = Result { () throws -> ScannedNames in
                try scanner.scan(bounds[w]..<bounds[w + 1])
                return scanner.names
            }
            lock.withLock { parts[w] = r }
        }
        guard var first = try parts.first??.get() else {
            throw DwarfScanError(offset: 0, section: ".debug_info", problem: "no worker result")
        }
        for w in 1..<workers {
            guard let part = try parts[w]?.get() else {
                throw DwarfScanError(offset: 0, section: ".debug_info", problem: "no result from worker \(w)")
            }
            try first.merge(part)
        }
        first.finish()
        return first
    }

    /// Scans raw section bytes (no ELF around them) and returns how many
    /// names an index would hold: the fuzz target's way in.
    public static func nameCount(info: [UInt8], abbrev: [UInt8], str: [UInt8]) throws -> Int {
        try info.withUnsafeBytes { i in
            try abbrev.withUnsafeBytes { a in
                try str.withUnsafeBytes { s in
                    let empty = UnsafeRawBufferPointer(start: nil, count: 0)
                    let sections = DieScanner.Sections(info: i, abbrev: a, str: s, lineStr: empty, strOffsets: empty)
                    let units = try DwarfUnitHeader.all(i)
                    var scanner = DieScanner(sections: sections, units: units)
                    try scanner.scan(0..<units.count)
                    var names = scanner.names
                    names.finish()
                    return names.sortedIds().count
                }
            }
        }
    }
}
