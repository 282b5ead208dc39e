import MKFormat

/// One ORC ("oops rewind capability") entry: how to find the caller's
/// stack pointer, frame pointer and return address at a code address.
/// Written from the format objtool emits (`struct orc_entry`); the layout
/// is read from the kernel's own DWARF when it has the type.
public struct OrcEntry: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// No unwind information at this address.
        case undefined
        /// The outermost frame: nothing above it.
        case endOfStack
        /// A regular function frame: the return address sits below the CFA.
        case call
        /// A full `struct pt_regs` at `sp_reg + sp_offset` (interrupt,
        /// exception or syscall entry).
        case regs
        /// Only the hardware iret frame (ip, cs, flags, sp, ss) at
        /// `sp_reg + sp_offset`.
        case regsPartial
    }

    /// ORC register numbers (the same in every kernel version so far).
    public enum Register: UInt8, Sendable {
        case undefined = 0, prevSP = 1, dx = 2, di = 3, bp = 4, sp = 5, r10 = 6, r13 = 7
        case bpIndirect = 8, spIndirect = 9
    }

    public var spOffset: Int16
    public var bpOffset: Int16
    /// Raw ORC register numbers (see `Register`); unknown ones stay raw.
    public var spReg: UInt8
    public var bpReg: UInt8
    public var kind: Kind
    /// Newer kernels' `signal` bit: the frame was interrupted, its ip is
    /// not a return address.
    public var signal: Bool

    public init(spOffset: Int16, bpOffset: Int16, spReg: UInt8, bpReg: UInt8, kind: Kind, signal: Bool = false) {
        self.spOffset = spOffset
        self.bpOffset = bpOffset
        self.spReg = spReg
        self.bpReg = bpReg
        self.kind = kind
        self.signal = signal
    }
}

/// Where the fields of `struct orc_entry` sit, and which type numbering the
/// kernel uses: up to 6.3 a 2-bit `type` (0 call, 1 regs, 2 regs_partial)
/// plus an `end` bit; from 6.4 a 3-bit `type` (0 undefined,
/// 1 end_of_stack, 2 call, 3 regs, 4 regs_partial) plus a `signal` bit.
public struct OrcFormat: Equatable, Sendable {
    /// A field of the entry, kept in one canonical form (first byte, bit
    /// offset in it, width) whether DWARF or the built-in layout gave it.
    public typealias Field = MemberLayout

    public var entrySize: Int
    public var spOffset: Field
    public var bpOffset: Field
    public var spReg: Field
    public var bpReg: Field
    public var type: Field
    /// The `end` bit (old numbering) — nil in the new numbering.
    public var end: Field?
    /// The `signal` bit (new numbering).
    public var signal: Field?
    /// Where the layout came from (for notes).
    public var source: String

    /// The field `name` at bit `bit` (from the entry's first byte) of `width` bits.
    public static func field(_ name: String, bit: Int, width: Int, signed: Bool = false) -> Field {
        Field(path: name, offset: bit / 8, size: (bit % 8 + width + 7) / 8, bitOffset: bit % 8, bitSize: width, isSigned: signed)
    }

    /// Linux 6.1's layout (packed, 6 bytes), for a kernel without the type in its DWARF.
    public static let linux61 = OrcFormat(
        entrySize: 6, spOffset: field("sp_offset", bit: 0, width: 16, signed: true),
        bpOffset: field("bp_offset", bit: 16, width: 16, signed: true),
        spReg: field("sp_reg", bit: 32, width: 4), bpReg: field("bp_reg", bit: 36, width: 4), type: field("type", bit: 40, width: 2),
        end: field("end", bit: 42, width: 1), signal: nil, source: "built-in 6.1 layout")

    public init(entrySize: Int, spOffset: Field, bpOffset: Field, spReg: Field, bpReg: Field, type: Field,
                end: Field?, signal: Field?, source: String) {
        self.entrySize = entrySize
        self.spOffset = spOffset
        self.bpOffset = bpOffset
        self.spReg = spReg
        self.bpReg = bpReg
        self.type = type
        self.end = end
        self.signal = signal
        self.source = source
    }

    /// The layout of a `struct orc_entry` type from DWARF; nil when it does
    /// not look like one.
    public init?(type t: CType) {
        let r = t.resolved
        guard r.kind == .structure, let size = r.byteSize, size > 0, size <= 8 else { return nil }
        func field(_ name: String, signed: Bool = false) -> Field? {
            guard let (offset, type, member) = try? r.memberPath(name), offset < 8, let bytes = type.byteSize, bytes <= 8 else { return nil }
            let m = MemberLayout(path: name, offset: offset, type: type, member: member)
            return Self.field(name, bit: m.firstBit, width: m.bitWidth, signed: signed)
        }
        guard let sp = field("sp_offset", signed: true), let bp = field("bp_offset", signed: true), let spReg = field("sp_reg"),
              let bpReg = field("bp_reg"), let type = field("type") else { return nil }
        let end = field("end"), signal = field("signal")
        guard end != nil || signal != nil else { return nil }
        for f in [sp, bp, spReg, bpReg, type, end, signal].compactMap({ $0 }) where f.firstBit < 0 || f.bitWidth <= 0 || f.firstBit + f.bitWidth > Int(size) * 8 || f.bitWidth > 16 {
            return nil
        }
        self.init(entrySize: Int(size), spOffset: sp, bpOffset: bp, spReg: spReg, bpReg: bpReg, type: type,
                  end: end, signal: signal, source: "struct orc_entry from DWARF")
    }

    /// Decodes one entry from `entrySize` bytes.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> OrcEntry {
        var word: UInt64 = 0
        for i in 0..<min(entrySize, 8, bytes.count) { word |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        func get(_ f: Field) -> UInt64 { (word >> UInt64(f.firstBit)) & ((1 << UInt64(f.bitWidth)) - 1) }
        func signed16(_ f: Field) -> Int16 {
            let v = get(f)
            if f.bitWidth >= 16 { return Int16(truncatingIfNeeded: v) }
            let sign: UInt64 = 1 << UInt64(f.bitWidth - 1)
            return Int16(truncatingIfNeeded: Int64(bitPattern: (v ^ sign) &- sign))
        }
        let rawType = get(type)
        let kind: OrcEntry.Kind
        var isSignal = false
        if let end {
            switch rawType {
            case 0: kind = .call
            case 1: kind = .regs
            case 2: kind = .regsPartial
            default: kind = .undefined
            }
            let spReg = get(spReg)
            if get(end) != 0 { return OrcEntry(spOffset: signed16(spOffset), bpOffset: signed16(bpOffset), spReg: UInt8(spReg), bpReg: UInt8(get(bpReg)), kind: .endOfStack) }
            if spReg == 0 { return OrcEntry(spOffset: signed16(spOffset), bpOffset: signed16(bpOffset), spReg: 0, bpReg: UInt8(get(bpReg)), kind: .undefined) }
            isSignal = kind != .call
        } else {
            switch rawType {
            case 0: kind = .undefined
            case 1: kind = .endOfStack
            case 2: kind = .call
            case 3: kind = .regs
            case 4: kind = .regsPartial
            default: kind = .undefined
            }
            isSignal = signal.map { get($0) != 0 } ?? false || kind == .regs || kind == .regsPartial
        }
        return OrcEntry(spOffset: signed16(spOffset), bpOffset: signed16(bpOffset), spReg: UInt8(get(spReg)),
                        bpReg: UInt8(get(bpReg)), kind: kind, signal: isSignal)
    }
}

/// A sorted ORC table: code addresses and their entries. The vmlinux's
/// comes from its `.orc_unwind_ip`/`.orc_unwind` sections (link-time
/// addresses); a module's from its `struct module` in memory (run-time
/// addresses).
public final class OrcTable {
    public let format: OrcFormat
    /// Code addresses, ascending.
    public let addresses: [UInt64]
    /// Index into `entries` (in entries of `format.entrySize`) for each address.
    let order: [Int32]?
    let entries: [UInt8]

    /// Builds the table from the raw arrays: `ipBytes` holds s32 offsets,
    /// each relative to its own address (`ipTableAddress + 4*i`);
    /// `entryBytes` holds the entries in the same order.
    public init(ipTableAddress: UInt64, ipBytes: [UInt8], entryBytes: [UInt8], format: OrcFormat) throws {
        let count = ipBytes.count / 4
        guard format.entrySize > 0, entryBytes.count / format.entrySize >= count else {
            throw OrcError.malformed("\(count) ORC addresses but room for \(entryBytes.count / max(1, format.entrySize)) entries")
        }
        var ips = [UInt64](repeating: 0, count: count)
        var sorted = true
        ipBytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let rel = Int32(bitPattern: UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24)
                ips[i] = (ipTableAddress &+ UInt64(4 * i)) &+ UInt64(bitPattern: Int64(rel))
                if i > 0 && ips[i] < ips[i - 1] { sorted = false }
            }
        }
        if sorted {
            addresses = ips
            order = nil
        } else {
            let idx = (0..<count).sorted { ips[$0] < ips[$1] }
            addresses = idx.map { ips[$0] }
            order = idx.map { Int32($0) }
        }
        entries = entryBytes
        self.format = format
    }

    public var count: Int { addresses.count }

    /// The entry covering `address`: the last one at or below it.
    public func lookup(_ address: UInt64) -> (start: UInt64, entry: OrcEntry)? {
        var lo = 0, hi = addresses.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if addresses[mid] <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let i = lo - 1
        let e = order.map { Int($0[i]) } ?? i
        let size = format.entrySize
        let entry = entries.withUnsafeBytes { raw in
            format.decode(UnsafeRawBufferPointer(rebasing: raw[(e * size)..<(e * size + size)]))
        }
        return (addresses[i], entry)
    }

    /// Whether `address` lies within the table's span (first to last address).
    public func covers(_ address: UInt64) -> Bool {
        guard let first = addresses.first, let last = addresses.last else { return false }
        return address >= first && address <= last
    }
}

public enum OrcError: Error, CustomStringConvertible {
    case missing(String)
    case malformed(String)

    public var description: String {
        switch self {
        case let .missing(what): return "no ORC unwind data: \(what)"
        case let .malformed(what): return "bad ORC unwind data: \(what)"
        }
    }
}

extension DebugInfo {
    /// The `struct orc_entry` layout of this kernel (from its DWARF, else
    /// Linux 6.1's).
    public var orcFormat: OrcFormat {
        if let f = orcFormatCache { return f }
        let f = findType("struct orc_entry").flatMap { OrcFormat(type: $0) } ?? .linux61
        orcFormatCache = f
        return f
    }

    /// The vmlinux's ORC table, at link-time addresses (read once); `format`
    /// from the kernel's types (BTF answers it before the DWARF index exists).
    public func vmlinuxOrcTable(format: OrcFormat? = nil) throws -> OrcTable {
        if let t = orcTableCache { return t }
        guard let ip = vmlinux.file.sectionContents(named: ".orc_unwind_ip") else {
            throw OrcError.missing("\(vmlinux.path) has no .orc_unwind_ip section")
        }
        guard let entries = vmlinux.file.sectionContents(named: ".orc_unwind") else {
            throw OrcError.missing("\(vmlinux.path) has no .orc_unwind section")
        }
        let t = try OrcTable(ipTableAddress: ip.address, ipBytes: ip.bytes, entryBytes: entries.bytes, format: format ?? orcFormat)
        orcTableCache = t
        return t
    }
}
