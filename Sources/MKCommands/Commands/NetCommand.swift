import MKFormat
import MKKernel

/// crash's `net`: the network devices with their addresses and state.
enum NetCommand {
    static let usage = "net [-a]"

    static let spec = CommandSpec(
        name: "net", group: "kernel",
        summary: "network devices: net_device, name, IPv4 addresses, MAC address, flags and operstate",
        usage: usage, details: """

        The devices of init_net (its dev_base_head list), or with -a of every namespace on
        net_namespace_list. IP ADDRESS is each in_ifaddr of ip_ptr->ifa_list (ifa_local/prefix),
        MAC dev_addr, FLAGS dev->flags' IFF_ names, STATE dev->operstate.
        """,
        examples: ["net", "net -a"],
        options: [.flag("-a", help: "every network namespace, not only init_net")],
        json: ["devices", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("net") { try NetDeviceLayout(kernel) }
        let budget = session.walkBudget()
        let all = args.has("-a")
        let result: NetDevices
        var warnings: [WalkWarning] = []
        do {
            let ns = try kernel.netNamespaces(all: all, layout: layout, budget: budget)
            warnings = ns.warnings
            result = kernel.netDevices(namespaces: ns.namespaces, layout: layout, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("net: \(e)", cause: e)
        }
        let nameWidth = max(4, result.devices.map(\.name.count).max() ?? 0)
        var lines = [(all ? "    NET_NS        " : "") + "   NET_DEVICE     " + "NAME".rightPadded(nameWidth)
                     + "   IP ADDRESS(ES)      MAC                STATE   FLAGS"]
        var json: [JSONValue] = []
        for d in result.devices {
            let ips = d.ipv4.map { NetDevice.dotted($0.address) }.joined(separator: ", ")
            let mac = d.address.map { String($0, radix: 16).leftPadded(2, with: "0") }.joined(separator: ":")
            let state = NetDevice.operstateName(d.operstate)
            let flags = NetDevice.flagNames(d.flags)
            lines.append((all ? "\(hexDigits(d.namespace))  " : "") + "\(hexDigits(d.device))  " + d.name.rightPadded(nameWidth)
                         + "   " + ips.rightPadded(19) + " " + mac.rightPadded(18) + " " + state.rightPadded(7) + " "
                         + flags.joined(separator: "|"))
            json.append(.object([("net", jsonAddress(d.namespace)), ("net_device", jsonAddress(d.device)), ("name", .string(d.name)),
                                 ("ipv4", .array(d.ipv4.map { .object([("address", .string(NetDevice.dotted($0.address))),
                                                                       ("prefixlen", .int(Int64($0.prefix)))]) })),
                                 ("mac", .string(mac)), ("flags", .uint(d.flags)), ("flag_names", .array(flags.map { .string($0) })),
                                 ("operstate", .uint(d.operstate)), ("operstate_name", .string(state))]))
        }
        let w = KernelCommandSupport.warnings("net", (warnings + result.warnings).map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("devices", .array(json)), ("warnings", w.json)])
    }
}
