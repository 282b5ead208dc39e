import MKFormat
import MKKernel

/// crash's `swap`: each swap area with its type, size, use, priority and file.
enum SwapCommand {
    static let usage = "swap"

    static let spec = CommandSpec(
        name: "swap", group: "kernel",
        summary: "swap areas: swap_info_struct, type, size, used, priority and file name",
        usage: usage, details: """

        The swap_info[] entries below nr_swapfiles with SWP_USED set (as crash lists them; /proc/swaps
        also skips one being swapped off): SIZE is `pages` and USED `inuse_pages` in KiB, as
        /proc/swaps counts them; PCT is USED of SIZE; PRI is `prio`;
        TYPE is PARTITION when the swap file's inode is a block device, else FILE; FILENAME is the
        path of swap_file built as d_path does.
        """,
        examples: ["swap"],
        json: ["page_size", "devices", "warnings"]
    ) { _, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        let result: SwapDevices
        do { result = try kernel.swapDevices(budget: budget) } catch let e as KernelError {
            throw CommandError.failed("swap: \(e)", cause: e)
        }
        let pageSize = kernel.target.image.vmcoreInfo?.pageSize ?? kernel.target.memory.addressLayout?.basePageSize ?? 4096
        let kib = pageSize / 1024
        var lines = ["SWAP_INFO_STRUCT    TYPE       SIZE       USED    PCT  PRI  FILENAME"]
        if result.devices.isEmpty { lines.append("(no swap areas)") }
        var json: [JSONValue] = []
        for d in result.devices {
            let size = d.pages.multipliedReportingOverflow(by: kib).partialValue
            let used = d.inUse.multipliedReportingOverflow(by: kib).partialValue
            let pct = d.pages == 0 ? 0 : d.inUse.multipliedReportingOverflow(by: 100).partialValue / d.pages
            lines.append(hexDigits(d.info) + "  " + (d.isPartition ? "PARTITION" : "FILE").rightPadded(9) + "  "
                         + (String(size) + "k").leftPadded(9, with: " ") + "  " + (String(used) + "k").leftPadded(9, with: " ") + "  "
                         + (String(pct) + "%").leftPadded(4, with: " ") + "  " + String(d.priority).leftPadded(3, with: " ") + "  " + d.path)
            json.append(.object([("swap_info_struct", jsonAddress(d.info)), ("index", .int(Int64(d.index))), ("flags", .uint(d.flags)),
                                 ("type", .string(d.isPartition ? "partition" : "file")), ("pages", .uint(d.pages)),
                                 ("inuse_pages", .uint(d.inUse)), ("size_kib", .uint(size)), ("used_kib", .uint(used)),
                                 ("priority", .int(d.priority)), ("file", jsonAddress(d.file)), ("path", .string(d.path))]))
        }
        let w = KernelCommandSupport.warnings("swap", result.warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("page_size", .uint(pageSize)), ("devices", .array(json)), ("warnings", w.json)])
    }
}
