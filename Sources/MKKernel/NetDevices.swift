import MKFormat
import MKMemory
import MKDebugInfo

/// One network device (`struct net_device`), as `net` shows it.
public struct NetDevice: Equatable {
    public var namespace: UInt64
    public var device: UInt64
    public var name: String
    /// `dev->flags` (IFF_*).
    public var flags: UInt64
    /// `dev->operstate` (IF_OPER_*).
    public var operstate: UInt64
    /// `dev_addr[0..<addr_len]`.
    public var address: [UInt8]
    /// The IPv4 addresses of `ip_ptr->ifa_list`, as (address, prefix length).
    public var ipv4: [(address: UInt32, prefix: Int)]

    public static func == (a: NetDevice, b: NetDevice) -> Bool {
        a.namespace == b.namespace && a.device == b.device && a.name == b.name && a.flags == b.flags
            && a.operstate == b.operstate && a.address == b.address && a.ipv4.map(\.address) == b.ipv4.map(\.address)
            && a.ipv4.map(\.prefix) == b.ipv4.map(\.prefix)
    }

    /// The names of the set IFF_* bits of `flags`, lowest first.
    public static func flagNames(_ flags: UInt64) -> [String] {
        let names = ["UP", "BROADCAST", "DEBUG", "LOOPBACK", "POINTOPOINT", "NOTRAILERS", "RUNNING", "NOARP", "PROMISC",
                     "ALLMULTI", "MASTER", "SLAVE", "MULTICAST", "PORTSEL", "AUTOMEDIA", "DYNAMIC", "LOWER_UP", "DORMANT", "ECHO"]
        return names.indices.filter { flags & (1 << UInt64($0)) != 0 }.map { names[$0] }
    }

    /// RFC 2863's operational states as the kernel numbers them (IF_OPER_*).
    public static func operstateName(_ state: UInt64) -> String {
        let names = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]
        return state < UInt64(names.count) ? names[Int(state)] : "?\(state)"
    }

    /// `a.b.c.d` of a `__be32` read as a little-endian word.
    public static func dotted(_ v: UInt32) -> String {
        "\(v & 0xff).\((v >> 8) & 0xff).\((v >> 16) & 0xff).\(v >> 24)"
    }
}

/// The devices found and what went wrong finding them.
public struct NetDevices {
    public var devices: [NetDevice] = []
    public var warnings: [WalkWarning] = []
}

/// Where `net`, `net_device`, `in_device` and `in_ifaddr` keep what `net`
/// shows, from DWARF.
public struct NetDeviceLayout {
    public let devBaseHead: UInt64
    public let netList: UInt64
    public let devList: UInt64
    public let name: Field
    public let flags: Field
    public let operstate: Field
    public let devAddr: Field
    public let addrLen: Field
    public let ipPtr: Field
    public let ifaList: Field
    public let ifaNext: Field
    public let ifaLocal: Field
    public let ifaPrefix: Field

    public init(_ kernel: Kernel) throws {
        let net = try kernel.type("struct net")
        devBaseHead = try kernel.offset(of: "dev_base_head", in: net)
        netList = try kernel.offset(of: "list", in: net)
        let nd = try kernel.type("struct net_device")
        devList = try kernel.offset(of: "dev_list", in: nd)
        name = try kernel.field("name", in: nd)
        flags = try kernel.field("flags", in: nd)
        operstate = try kernel.field("operstate", in: nd)
        devAddr = try kernel.field("dev_addr", in: nd)
        addrLen = try kernel.field("addr_len", in: nd)
        ipPtr = try kernel.field("ip_ptr", in: nd)
        ifaList = try kernel.field("ifa_list", in: kernel.type("struct in_device"))
        let ifa = try kernel.type("struct in_ifaddr")
        ifaNext = try kernel.field("ifa_next", in: ifa)
        ifaLocal = try kernel.field("ifa_local", in: ifa)
        ifaPrefix = try kernel.field("ifa_prefixlen", in: ifa)
    }
}

extension Kernel {
    /// The network namespaces: `init_net` alone, or (`all`) every one on `net_namespace_list`.
    public func netNamespaces(all: Bool, layout: NetDeviceLayout, budget: WalkBudget) throws -> (namespaces: [UInt64], warnings: [WalkWarning]) {
        let initNet = try address(of: "init_net")
        guard all else { return ([initNet], []) }
        let head = try address(of: "net_namespace_list")
        let walk = ListWalker(memory: memory, budget: budget).walk(head: head)
        return (walk.nodes.map { $0 &- layout.netList }, walk.warnings)
    }

    /// The devices of each namespace (its `dev_base_head` list), with their
    /// IPv4 addresses (`ip_ptr->ifa_list` along `ifa_next`). Every walk is
    /// bounded by `budget` and cycle-checked.
    public func netDevices(namespaces: [UInt64], layout: NetDeviceLayout, budget: WalkBudget) -> NetDevices {
        var out = NetDevices()
        let lists = ListWalker(memory: memory, budget: budget)
        for ns in namespaces {
            let walk = lists.walk(head: ns &+ layout.devBaseHead)
            out.warnings += walk.warnings
            for node in walk.nodes {
                let dev = node &- layout.devList
                do {
                    out.devices.append(try netDevice(dev, namespace: ns, layout: layout, budget: budget, warnings: &out.warnings))
                } catch {
                    out.warnings.append(WalkWarning(address: dev, message: "cannot read the net_device: \(error)"))
                }
            }
        }
        return out
    }

    private func netDevice(_ dev: UInt64, namespace: UInt64, layout: NetDeviceLayout, budget: WalkBudget,
                           warnings: inout [WalkWarning]) throws -> NetDevice {
        let d = try readObject(at: dev, covering: [layout.name, layout.flags, layout.operstate, layout.devAddr,
                                                   layout.addrLen, layout.ipPtr])
        var mac: [UInt8] = []
        let len = Int(min(d.unsigned(layout.addrLen) ?? 0, 32))
        // dev_addr is a pointer since 5.17; an array before.
        let macAt = layout.devAddr.type.isPointer ? (d.unsigned(layout.devAddr) ?? 0) : dev &+ UInt64(layout.devAddr.offset)
        if len > 0, macAt != 0 {
            do {
                mac = try memory.readVirtual(macAt, count: len)
            } catch {
                warnings.append(WalkWarning(address: macAt, message: "cannot read the device's dev_addr: \(error)"))
            }
        }
        var ipv4: [(address: UInt32, prefix: Int)] = []
        let inDev = d.unsigned(layout.ipPtr) ?? 0
        if inDev != 0 {
            var ifa = (try? readObject(at: inDev, covering: [layout.ifaList]).unsigned(layout.ifaList)) ?? 0
            var seen = Set<UInt64>()
            while ifa != 0 {
                guard seen.insert(ifa).inserted else {
                    warnings.append(WalkWarning(address: ifa, message: "in_ifaddr \(hex(ifa)) met twice on ifa_list (a cycle)"))
                    break
                }
                guard budget.take() else {
                    if budget.keepWarning("walk budget") {
                        warnings.append(WalkWarning(address: ifa, message: budget.spentMessage(entries: ipv4.count, reserve: 0)))
                    }
                    break
                }
                do {
                    let a = try readObject(at: ifa, covering: [layout.ifaNext, layout.ifaLocal, layout.ifaPrefix])
                    ipv4.append((address: UInt32(truncatingIfNeeded: a.unsigned(layout.ifaLocal) ?? 0),
                                 prefix: Int(a.unsigned(layout.ifaPrefix) ?? 0)))
                    ifa = a.unsigned(layout.ifaNext) ?? 0
                } catch {
                    warnings.append(WalkWarning(address: ifa, message: "cannot read the in_ifaddr: \(error)"))
                    break
                }
            }
        }
        return NetDevice(namespace: namespace, device: dev, name: d.string(layout.name) ?? "", flags: d.unsigned(layout.flags) ?? 0,
                         operstate: d.unsigned(layout.operstate) ?? 0, address: mac, ipv4: ipv4)
    }
}
