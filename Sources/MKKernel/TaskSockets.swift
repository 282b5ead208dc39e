import MKFormat
import MKMemory
import MKDebugInfo

/// An address and port of an inet socket: 4 bytes (IPv4) or 16 (IPv6), in network order.
public struct SocketEndpoint: Equatable {
    public var address: [UInt8]
    public var port: UInt16

    /// `10.0.2.15`, or an IPv6 address with its longest run of zero groups as `::`.
    public var addressText: String {
        if address.count == 4 { return address.map { String($0) }.joined(separator: ".") }
        var groups: [UInt16] = []
        var i = 0
        while i + 1 < address.count {
            groups.append(UInt16(address[i]) << 8 | UInt16(address[i + 1]))
            i += 2
        }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (k, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (k, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func hexGroups(_ s: ArraySlice<UInt16>) -> String { s.map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.length > 1 else { return hexGroups(groups[...]) }
        return hexGroups(groups[..<best.start]) + "::" + hexGroups(groups[(best.start + best.length)...])
    }

    /// crash's `ADDRESS-PORT`.
    public var text: String { "\(addressText)-\(port)" }
}

/// One socket a task holds open: its descriptor, `struct socket`, `struct sock`
/// and what the sock says of its family, type, state and addresses.
public struct TaskSocket: Equatable {
    public var fd: Int
    public var file: UInt64
    public var socket: UInt64
    public var sock: UInt64
    /// `sk->__sk_common.skc_family` (AF_*).
    public var family: UInt64
    /// `sk->sk_type` (SOCK_*).
    public var type: UInt64
    /// `sk->__sk_common.skc_state` (the TCP_* numbering every family uses).
    public var state: UInt64
    /// `socket->state` (SS_*).
    public var socketState: UInt64
    /// Inet sockets: the bound address and `skc_num`, the peer's address and `skc_dport`.
    public var local: SocketEndpoint?
    public var remote: SocketEndpoint?
    /// UNIX sockets: `unix_sk(sk)->addr`'s `sun_path` (`@name` when abstract); nil when unbound.
    public var path: String?

    public static func familyName(_ f: UInt64) -> String {
        let names: [UInt64: String] = [1: "UNIX", 2: "INET", 3: "AX25", 4: "IPX", 5: "APPLETALK", 10: "INET6", 16: "NETLINK",
                                       17: "PACKET", 29: "CAN", 31: "BLUETOOTH", 38: "ALG", 40: "VSOCK", 44: "XDP"]
        return names[f] ?? "AF_\(f)"
    }

    public static func typeName(_ t: UInt64) -> String {
        let names: [UInt64: String] = [1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 6: "DCCP", 10: "PACKET"]
        return names[t] ?? "SOCK_\(t)"
    }

    /// include/net/tcp_states.h's names (TCP_ dropped), which UNIX sockets use too.
    public static func stateName(_ s: UInt64) -> String {
        let names = ["?0", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
                     "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"]
        return s < UInt64(names.count) ? names[Int(s)] : "?\(s)"
    }
}

/// A task's sockets and what went wrong finding them.
public struct TaskSockets {
    public var sockets: [TaskSocket] = []
    public var hasFiles = true
    public var warnings: [WalkWarning] = []
}

/// Where `file`, `socket_alloc`, `socket`, `sock`, `unix_sock` and
/// `unix_address` keep what `net -s` shows, from DWARF.
public struct TaskSocketLayout {
    public let files: OpenFilesLayout
    public let fOp: Field
    /// `&socket_file_ops`: the f_op of every socket file.
    public let socketFileOps: UInt64
    /// `offsetof(socket_alloc, vfs_inode) - offsetof(socket_alloc, socket)`: SOCKET_I's step back.
    public let inodeFromSocket: UInt64
    public let socketState: Field
    public let socketSk: Field
    public let family: Field
    public let state: Field
    public let skType: Field
    public let daddr: Field
    public let rcvSaddr: Field
    public let dport: Field
    public let num: Field
    public let v6Daddr: Field?
    public let v6RcvSaddr: Field?
    /// `unix_sock.addr`, as a member of the `struct sock` it starts with (`unix_sock.sk`).
    public let unixAddr: Field
    public let unixAddrLen: Field
    /// Offset of `name[0].sun_path` in `struct unix_address`.
    public let unixPathOffset: UInt64
    public let unixPathMax: Int

    public init(_ kernel: Kernel) throws {
        files = try OpenFilesLayout(kernel)
        fOp = try kernel.field("f_op", in: kernel.type("struct file"))
        socketFileOps = try kernel.address(of: "socket_file_ops")
        let alloc = try kernel.type("struct socket_alloc")
        let inode = try kernel.offset(of: "vfs_inode", in: alloc), sock = try kernel.offset(of: "socket", in: alloc)
        guard inode > sock else {
            throw KernelError.unsupportedLayout(what: "struct socket_alloc", message: "socket_alloc.vfs_inode is not after its socket")
        }
        inodeFromSocket = inode - sock
        let socket = try kernel.type("struct socket")
        socketState = try kernel.field("state", in: socket)
        socketSk = try kernel.field("sk", in: socket)
        let sk = try kernel.type("struct sock")
        family = try kernel.field("__sk_common.skc_family", in: sk)
        state = try kernel.field("__sk_common.skc_state", in: sk)
        skType = try kernel.field("sk_type", in: sk)
        daddr = try kernel.field("__sk_common.skc_daddr", in: sk)
        rcvSaddr = try kernel.field("__sk_common.skc_rcv_saddr", in: sk)
        dport = try kernel.field("__sk_common.skc_dport", in: sk)
        num = try kernel.field("__sk_common.skc_num", in: sk)
        // Without CONFIG_IPV6 there are no v6 addresses in sock_common.
        v6Daddr = kernel.optionalField("__sk_common.skc_v6_daddr", in: sk)
        v6RcvSaddr = kernel.optionalField("__sk_common.skc_v6_rcv_saddr", in: sk)
        let unix = try kernel.type("struct unix_sock")
        guard try kernel.offset(of: "sk", in: unix) == 0 else {
            throw KernelError.unsupportedLayout(what: "struct unix_sock", message: "unix_sock does not start with its sock")
        }
        unixAddr = try kernel.field("addr", in: unix)
        let ua = try kernel.type("struct unix_address")
        unixAddrLen = try kernel.field("len", in: ua)
        let sun = try kernel.type("struct sockaddr_un")
        let path = try kernel.field("sun_path", in: sun)
        unixPathOffset = try kernel.offset(of: "name", in: ua) &+ UInt64(path.offset)
        unixPathMax = path.size
    }
}

extension Kernel {
    /// The sockets among the task's open files: those whose `f_op` is
    /// `socket_file_ops`, their `struct socket` found from the inode as
    /// SOCKET_I does (both live in one `socket_alloc`), then the `sock`.
    /// Walks the fd table as `openFiles` does and spends one step of `budget`
    /// per socket; an unreadable socket or sock is a warning, not an error.
    public func taskSockets(task: UInt64, layout: TaskSocketLayout, budget: WalkBudget) throws -> TaskSockets {
        let files = try openFiles(task: task, layout: layout.files, budget: budget)
        var out = TaskSockets(sockets: [], hasFiles: files.hasFiles, warnings: files.warnings)
        let sockFields = [layout.family, layout.state, layout.skType, layout.daddr, layout.rcvSaddr, layout.dport, layout.num]
            + [layout.v6Daddr, layout.v6RcvSaddr].compactMap { $0 }
        for f in files.files where f.type == "SOCK" && f.inode != 0 {
            guard budget.take() else {
                if budget.keepWarning("walk budget") {
                    out.warnings.append(WalkWarning(address: f.file, message: budget.spentMessage(entries: out.sockets.count, reserve: 0)))
                }
                break
            }
            do {
                let ops = try readObject(at: f.file, covering: [layout.fOp]).unsigned(layout.fOp) ?? 0
                guard ops == layout.socketFileOps else { continue }
                let socket = f.inode &- layout.inodeFromSocket
                let s = try readObject(at: socket, covering: [layout.socketState, layout.socketSk])
                let sk = s.unsigned(layout.socketSk) ?? 0
                var entry = TaskSocket(fd: f.fd, file: f.file, socket: socket, sock: sk, family: 0, type: 0, state: 0,
                                       socketState: s.unsigned(layout.socketState) ?? 0)
                if sk != 0 {
                    let b = try readObject(at: sk, covering: sockFields)
                    entry.family = b.unsigned(layout.family) ?? 0
                    entry.type = b.unsigned(layout.skType) ?? 0
                    entry.state = b.unsigned(layout.state) ?? 0
                    // skc_dport is big-endian, skc_num host order; the addresses are network order as stored.
                    let dport = UInt16(truncatingIfNeeded: b.unsigned(layout.dport) ?? 0).byteSwapped
                    let num = UInt16(truncatingIfNeeded: b.unsigned(layout.num) ?? 0)
                    func bytes(_ f: Field) -> [UInt8] {
                        guard b.contains(f) else { return [] }
                        return Array(b.bytes[(f.offset - b.start)..<(f.end - b.start)])
                    }
                    switch entry.family {
                    case 2:
                        entry.local = SocketEndpoint(address: bytes(layout.rcvSaddr), port: num)
                        entry.remote = SocketEndpoint(address: bytes(layout.daddr), port: dport)
                    case 10:
                        if let l = layout.v6RcvSaddr, let r = layout.v6Daddr {
                            entry.local = SocketEndpoint(address: bytes(l), port: num)
                            entry.remote = SocketEndpoint(address: bytes(r), port: dport)
                        }
                    case 1:
                        entry.path = try unixPath(sock: sk, layout: layout)
                    default:
                        break
                    }
                }
                out.sockets.append(entry)
            } catch {
                if budget.keepWarning("unreadable socket") {
                    out.warnings.append(WalkWarning(address: f.file, message: "fd \(f.fd): cannot read the socket: \(error)"))
                }
            }
        }
        return out
    }

    /// The bound name of a UNIX socket: `sun_path[0 ..< len - sizeof(sun_family)]`, up to
    /// its NUL for a filesystem name, `@` then the bytes (NULs as `@`) for an abstract one.
    private func unixPath(sock: UInt64, layout: TaskSocketLayout) throws -> String? {
        let addr = try readObject(at: sock, covering: [layout.unixAddr]).unsigned(layout.unixAddr) ?? 0
        guard addr != 0 else { return nil }
        let len = try readObject(at: addr, covering: [layout.unixAddrLen]).signed(layout.unixAddrLen) ?? 0
        // len counts sun_family (2 bytes) and the path; nothing past sun_path's size is read.
        let count = len > 2 ? Int(min(len - 2, Int64(layout.unixPathMax))) : 0
        guard count > 0 else { return "" }
        let raw = try memory.readVirtual(addr &+ layout.unixPathOffset, count: count)
        if raw[0] == 0 {
            return "@" + String(decoding: raw.dropFirst().map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self)
        }
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
