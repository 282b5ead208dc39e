import MKFormat
import MKDebugInfo

/// A registered character device range (`struct char_device_struct` on `chrdevs[]`).
public struct CharDevice: Equatable {
    public var address: UInt64
    public var major: UInt64
    public var baseMinor: UInt64
    public var minorCount: Int64
    public var name: String
    /// Its `struct cdev` (0 for a region registered without one) and that cdev's `ops`.
    public var cdev: UInt64
    public var operations: UInt64
}

/// A registered block device major (`struct blk_major_name` on `major_names[]`).
public struct BlockMajor: Equatable {
    public var address: UInt64
    public var major: Int64
    public var name: String
}

/// What `dev` shows: both tables in major order, and where a chain stopped short.
public struct DeviceTables {
    public var characters: [CharDevice]
    public var blocks: [BlockMajor]
    public var warnings: [WalkWarning]
}

extension Kernel {
    /// The character and block device majors registered (fs/char_dev.c's `chrdevs`,
    /// block/genhd.c's `major_names`: hash tables of `next` chains), each chain bounded
    /// by the budget and checked for cycles.
    public func deviceTables(budget: WalkBudget = WalkBudget()) throws -> DeviceTables {
        var warnings: [WalkWarning] = []
        func chains(_ table: String, _ type: String, read: (UInt64, ObjectBytes) -> Void, fields: [Field]) throws {
            guard let v = types.variable(table), let n = v.type.resolved.count, n > 0, n <= 4096 else {
                throw KernelError.unsupportedLayout(what: table, message: "\(table) is not an array of \(type) pointers")
            }
            let t = try self.type(type)
            let next = try field("next", in: t)
            let base = try address(of: table)
            var seen = Set<UInt64>()
            for i in 0..<Int(n) {
                var at = try memory.readVirtualU64(base &+ 8 &* UInt64(i))
                while at != 0 {
                    guard seen.insert(at).inserted else {
                        warnings.append(WalkWarning(address: at, message: "\(table)[\(i)]: \(type) \(hex(at)) is reached a second time (a cycle); not followed"))
                        break
                    }
                    guard budget.take() else {
                        warnings.append(WalkWarning(address: at, message: "\(table): " + budget.spentMessage(entries: seen.count, reserve: 0)))
                        return
                    }
                    let bytes: ObjectBytes
                    do { bytes = try readObject(at: at, covering: fields + [next]) } catch {
                        warnings.append(WalkWarning(address: at, message: "\(table)[\(i)]: cannot read the \(type): \(error)"))
                        break
                    }
                    read(at, bytes)
                    at = bytes.unsigned(next) ?? 0
                }
            }
        }
        var characters: [CharDevice] = []
        let c = try type("struct char_device_struct")
        let (cMajor, cBase, cCount, cName, cCdev) = (try field("major", in: c), try field("baseminor", in: c),
                                                     try field("minorct", in: c), try field("name", in: c), try field("cdev", in: c))
        let ops = try offset(of: "ops", in: try type("struct cdev"))
        try chains("chrdevs", "struct char_device_struct", read: { at, b in
            let cdev = b.unsigned(cCdev) ?? 0
            characters.append(CharDevice(address: at, major: b.unsigned(cMajor) ?? 0, baseMinor: b.unsigned(cBase) ?? 0,
                                         minorCount: b.signed(cCount) ?? 0, name: b.string(cName) ?? "", cdev: cdev,
                                         operations: cdev == 0 ? 0 : ((try? memory.readVirtualU64(cdev &+ ops)) ?? 0)))
        }, fields: [cMajor, cBase, cCount, cName, cCdev])
        var blocks: [BlockMajor] = []
        let m = try type("struct blk_major_name")
        let (bMajor, bName) = (try field("major", in: m), try field("name", in: m))
        try chains("major_names", "struct blk_major_name", read: { at, b in
            blocks.append(BlockMajor(address: at, major: b.signed(bMajor) ?? 0, name: b.string(bName) ?? ""))
        }, fields: [bMajor, bName])
        characters.sort { ($0.major, $0.baseMinor) < ($1.major, $1.baseMinor) }
        blocks.sort { $0.major < $1.major }
        return DeviceTables(characters: characters, blocks: blocks, warnings: warnings)
    }
}
