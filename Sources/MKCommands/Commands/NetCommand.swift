import MKFormat
import MKKernel

/// crash's `net`: the network devices with their addresses and state;
/// `net -s [PID|TASK]`: a task's sockets.
enum NetCommand {
    static let usage = "net [-a] | net -s [PID | TASK-ADDRESS]"

    static let spec = CommandSpec(
        name: "net", group: "kernel",
        summary: "network devices: net_device, name, IPv4 addresses, MAC address, flags and operstate; -s: a task's sockets",
        usage: usage, details: """

        The devices of init_net (its dev_base_head list), or with -a of every namespace on
        net_namespace_list. IP ADDRESS is each in_ifaddr of ip_ptr->ifa_list (ifa_local/prefix),
        MAC dev_addr, FLAGS dev->flags' IFF_ names, STATE dev->operstate.
        -s: the sockets among the open files of a task (PID or task address; none: the selected
        task, else the panicking CPU's): files whose f_op is socket_file_ops, the struct socket
        beside the inode in its socket_alloc, and its sock: FAMILY:TYPE (skc_family, sk_type),
        for inet sockets the bound address and port (skc_rcv_saddr, skc_num) and the peer's
        (skc_daddr, skc_dport), for UNIX sockets the bound path (unix_sock.addr; @ starts an
        abstract name), and STATE (skc_state, named as TCP's states). foreach net -s: every task's.
        """,
        examples: ["net", "net -a", "net -s", "net -s 1"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        options: [.flag("-a", help: "every network namespace, not only init_net"),
                  .flag("-s", help: "the sockets of a task")],
        json: ["devices", "task", "pid", "comm", "cpu", "sockets", "warnings"],
        excess: "expected at most one PID or task address"
    ) { args, session in
        let word = args.words("PID|TASK-ADDRESS").first
        if args.has("-s") { return try sockets(word, session) }
        if word != nil {
            throw CommandError.usage(command: "net", message: "net: a PID or task address goes with -s", usage: usage)
        }
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
                             fields: [("devices", .array(json)), ("task", .null), ("pid", .null), ("comm", .null), ("cpu", .null),
                                      ("sockets", .array([])), ("warnings", w.json)])
    }

    /// `net -s`: crash's socket table of one task, with a STATE column added.
    static func sockets(_ word: String?, _ session: Session) throws -> CommandOutput {
        let header = try TaskHeader.resolve(word, session: session, command: "net", usage: usage)
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("net -s") { try TaskSocketLayout(kernel) }
        let budget = session.walkBudget()
        let result: TaskSockets
        do {
            result = try kernel.taskSockets(task: header.task, layout: layout, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("net -s: \(e)", cause: e)
        }
        var lines = header.lines
        var json: [JSONValue] = []
        if result.sockets.isEmpty {
            lines.append(result.hasFiles ? "No open sockets" : "No open files")
        } else {
            let rows = result.sockets.map { s -> [String] in
                let kind = TaskSocket.familyName(s.family) + ":" + TaskSocket.typeName(s.type)
                let source = s.local?.text ?? s.path ?? "", destination = s.remote?.text ?? ""
                return [String(s.fd), hexDigits(s.socket), hexDigits(s.sock), kind, source, destination, TaskSocket.stateName(s.state)]
            }
            let titles = ["FD", "SOCKET", "SOCK", "FAMILY:TYPE", "SOURCE-PORT", "DESTINATION-PORT", "STATE"]
            let widths = titles.indices.map { c in max(titles[c].count, rows.map { $0[c].count }.max() ?? 0) }
            func line(_ cells: [String]) -> String {
                (cells[0].leftPadded(widths[0], with: " ") + "  " + cells.indices.dropFirst().dropLast()
                    .map { cells[$0].rightPadded(widths[$0]) }.joined(separator: "  ") + "  " + cells[cells.count - 1])
            }
            lines.append(line(titles))
            lines += rows.map(line)
            for s in result.sockets {
                json.append(.object([("fd", .int(Int64(s.fd))), ("file", jsonAddress(s.file)), ("socket", jsonAddress(s.socket)),
                                     ("sock", jsonAddress(s.sock)), ("family", .uint(s.family)),
                                     ("family_name", .string(TaskSocket.familyName(s.family))), ("type", .uint(s.type)),
                                     ("type_name", .string(TaskSocket.typeName(s.type))), ("state", .uint(s.state)),
                                     ("state_name", .string(TaskSocket.stateName(s.state))), ("socket_state", .uint(s.socketState)),
                                     ("local_address", s.local.map { .string($0.addressText) } ?? .null),
                                     ("local_port", s.local.map { .uint(UInt64($0.port)) } ?? .null),
                                     ("remote_address", s.remote.map { .string($0.addressText) } ?? .null),
                                     ("remote_port", s.remote.map { .uint(UInt64($0.port)) } ?? .null),
                                     ("path", s.path.map { .string($0) } ?? .null)]))
            }
        }
        let w = KernelCommandSupport.warnings("net", result.warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("devices", .array([]))] + header.fields + [("sockets", .array(json)), ("warnings", w.json)])
    }
}
