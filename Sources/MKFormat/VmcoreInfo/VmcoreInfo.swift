/// The kernel's VMCOREINFO text: `KEY=VALUE` lines describing the layout a
/// debugger needs (release, build-id, KASLR offset, symbols, offsets, sizes).
public struct VmcoreInfo: Sendable, Equatable {
    /// Every key in the order the kernel wrote it.
    public let entries: [(key: String, value: String)]
    private let table: [String: String]
    /// Lines that were not `KEY=VALUE`.
    public let malformedLines: [String]

    public init(text: String) {
        var entries: [(String, String)] = []
        var table: [String: String] = [:]
        var malformed: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.trimmingNul()
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                malformed.append(String(trimmed))
                continue
            }
            let key = String(trimmed[..<eq])
            let value = String(trimmed[trimmed.index(after: eq)...])
            entries.append((key, value))
            if table[key] == nil { table[key] = value }
        }
        self.entries = entries
        self.table = table
        self.malformedLines = malformed
    }

    public static func == (a: VmcoreInfo, b: VmcoreInfo) -> Bool {
        a.entries.elementsEqual(b.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public subscript(key: String) -> String? { table[key] }

    public var osRelease: String? { table["OSRELEASE"] }
    /// GNU build-id of the running kernel, lower-case hex.
    public var buildId: String? { table["BUILD-ID"]?.lowercased() }
    /// Page size in bytes: only a power of two Linux uses for pages
    /// (`validPageSizes`); `pageSizeProblem` says why another value is not.
    public var pageSize: UInt64? {
        guard let text = table["PAGESIZE"], let v = UInt64(text), Self.validPageSizes.contains(v), v.nonzeroBitCount == 1 else { return nil }
        return v
    }
    /// Page sizes of Linux's architectures: 1 KiB to 256 KiB.
    public static let validPageSizes: ClosedRange<UInt64> = 1024...(256 << 10)

    /// Why PAGESIZE cannot be used, quoting it; nil when absent or valid.
    public var pageSizeProblem: String? {
        guard let text = table["PAGESIZE"] else { return nil }
        guard let v = UInt64(text) else { return "VMCOREINFO PAGESIZE=\"\(text)\" does not parse as a decimal number" }
        if v.nonzeroBitCount != 1 { return "VMCOREINFO PAGESIZE=\(text) is not a power of two" }
        if !Self.validPageSizes.contains(v) {
            return "VMCOREINFO PAGESIZE=\(text) is outside the page sizes Linux uses (\(Self.validPageSizes.lowerBound) to \(Self.validPageSizes.upperBound))"
        }
        return nil
    }

    /// KASLR slide of the kernel text (hex in the note).
    public var kernelOffset: UInt64? { table["KERNELOFFSET"].flatMap { UInt64($0, radix: 16) } }

    /// Keys present whose values do not parse (or, for PAGESIZE, are not a
    /// page size), each message quoting the value.
    public var valueProblems: [String] {
        var problems: [String] = []
        func check(_ key: String, _ parses: (String) -> Bool, _ expected: String) {
            if let v = table[key], !parses(v) { problems.append("VMCOREINFO \(key)=\"\(v)\" does not parse as \(expected)") }
        }
        check("KERNELOFFSET", { UInt64($0, radix: 16) != nil }, "a hex number")
        check("NUMBER(phys_base)", { Int64($0) != nil }, "a decimal number")
        check("SYMBOL(init_top_pgt)", { UInt64($0, radix: 16) != nil }, "a hex address")
        check("CRASHTIME", { Int64($0) != nil }, "a decimal number")
        if let p = pageSizeProblem { problems.append(p) }
        return problems
    }
    /// `NUMBER(phys_base)`: physical load address minus the link address; may be negative.
    public var physBase: Int64? { number("phys_base") }
    public var crashTime: Int64? { table["CRASHTIME"].flatMap { Int64($0) } }

    /// `SYMBOL(name)`: the run-time (already relocated) address.
    public func symbol(_ name: String) -> UInt64? { table["SYMBOL(\(name))"].flatMap { UInt64($0, radix: 16) } }
    public func number(_ name: String) -> Int64? { table["NUMBER(\(name))"].flatMap { Int64($0) } }
    /// `NUMBER(name)` as a 64-bit pattern: decimal (maybe negative) or, as arm64 writes its
    /// addresses (`NUMBER(kimage_voffset)=0xffff...`), hex after `0x`.
    public func bits(_ name: String) -> UInt64? {
        guard let text = table["NUMBER(\(name))"] else { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        if let v = Int64(text) { return UInt64(bitPattern: v) }
        return UInt64(text)
    }
    public func offset(_ name: String) -> Int64? { table["OFFSET(\(name))"].flatMap { Int64($0) } }
    public func size(_ name: String) -> Int64? { table["SIZE(\(name))"].flatMap { Int64($0) } }
    public func length(_ name: String) -> Int64? { table["LENGTH(\(name))"].flatMap { Int64($0) } }

    /// Keys any kernel's debugger needs; an architecture's address layout adds its own
    /// (`KernelAddressLayouts.vmcoreInfoKeys`). Reported by `info image` when absent.
    public static let commonKeys = ["OSRELEASE", "PAGESIZE"]

    /// Of the common keys and `keys`, those the note lacks, in that order.
    public func missingKeys(_ keys: [String] = []) -> [String] { (Self.commonKeys + keys).filter { table[$0] == nil } }
}

extension Substring {
    /// Linear in the line's length: `dropLast()` counts the whole substring
    /// each time, which made a note padded with many NULs take minutes.
    fileprivate func trimmingNul() -> Substring {
        var end = endIndex
        while end > startIndex {
            let before = index(before: end)
            let c = self[before]
            guard c == "\0" || c == "\r" || c == " " else { break }
            end = before
        }
        var start = startIndex
        while start < end, self[start] == "\0" { start = index(after: start) }
        return self[start..<end]
    }
}
