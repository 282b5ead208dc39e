import MKFormat
import MKSystem
import MKKernel

/// crash's `dev`: the character device majors (name, cdev, its file
/// operations) and the block device majors.
enum DevCommand {
    static let usage = "dev"

    static let spec = CommandSpec(
        name: "dev", group: "kernel",
        summary: "registered character devices (major, minors, name, cdev, operations) and block device majors",
        usage: usage, details: """

        Character devices are fs/char_dev.c's chrdevs[] (struct char_device_struct chains: a
        major and its range of minors, the cdev registered for it and that cdev's
        file_operations); block devices are block/genhd.c's major_names[]. Both in major order.
        """,
        examples: ["dev"],
        json: ["chrdevs", "blkdevs", "warnings"]
    ) { _, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        let tables: DeviceTables
        do { tables = try kernel.deviceTables(budget: budget) } catch let e as KernelError { throw CommandError.failed("dev: \(e)", cause: e) }
        let symbols = session.target?.symbols
        func ops(_ a: UInt64) -> String { a == 0 ? "(none)" : (symbols?.describeForPointer(a) ?? hexDigits(a)) }
        var lines = ["CHRDEV  MINORS       NAME                CDEV              OPERATIONS"]
        for d in tables.characters {
            let minors = d.minorCount == 1 ? "\(d.baseMinor)" : "\(d.baseMinor)-\(d.baseMinor &+ UInt64(max(0, d.minorCount &- 1)))"
            lines.append(String(d.major).leftPadded(6, with: " ") + "  " + minors.rightPadded(11) + "  " + d.name.rightPadded(18)
                         + "  " + (d.cdev == 0 ? "(none)".rightPadded(16) : hexDigits(d.cdev)) + "  " + ops(d.operations))
        }
        lines.append("")
        lines.append("BLKDEV  NAME")
        for b in tables.blocks { lines.append(String(b.major).leftPadded(6, with: " ") + "  " + b.name) }
        let chr: [JSONValue] = tables.characters.map { d in
            .object([("major", .uint(d.major)), ("baseminor", .uint(d.baseMinor)), ("minorct", .int(d.minorCount)),
                     ("name", .string(d.name)), ("address", jsonAddress(d.address)), ("cdev", d.cdev == 0 ? .null : jsonAddress(d.cdev)),
                     ("operations", d.operations == 0 ? .null : jsonAddress(d.operations)),
                     ("operations_symbol", d.operations == 0 ? .null : (symbols?.describeForPointer(d.operations).map { .string($0) } ?? .null))])
        }
        let blk: [JSONValue] = tables.blocks.map { .object([("major", .int($0.major)), ("name", .string($0.name)), ("address", jsonAddress($0.address))]) }
        let w = KernelCommandSupport.warnings("dev", tables.warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("chrdevs", .array(chr)), ("blkdevs", .array(blk)), ("warnings", w.json)])
    }
}
