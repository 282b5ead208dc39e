import Testing
import Foundation

/// `net -s`, `ipcs` and `swap` on the lab's dumps, against what the guest
/// made and printed (facts.json: the listeners' ports, syslogd's /dev/log,
/// mk-ipc's keys and sizes, the zram swap area). scripts/parity compares
/// every socket, IPC object and swap area with drgn.
@Suite(.serialized) struct NetIpcSwapTests {
    static func facts(_ fx: LabFixture) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: fx.directory + "/facts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func pid(_ facts: [String: Any], _ name: String) throws -> Int {
        try #require((facts["pids"] as? [String: Any])?[name] as? Int, "facts.json has no PID for \(name)")
    }

    static func sockets(_ o: [String: Any]) throws -> [[String: Any]] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["sockets"] as? [[String: Any]], "\(o)")
    }

    @Test(arguments: ["running", "panicked"]) func socketsOfTheListeners(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let facts = try Self.facts(fx)
        let netd = try Self.pid(facts, "mk-netd"), listener = try Self.pid(facts, "mk-listener"), syslogd = try Self.pid(facts, "mk-syslogd")
        let o = try KernelTests.json(fx.elf, ["net -s \(netd)", "net -s \(listener)", "net -s \(syslogd)", "files \(syslogd)",
                                              "p offsetof(struct socket_alloc, vfs_inode)", "net -s 99999999", "net 1"])
        for (i, port) in [(0, 8080), (1, 7777)] {
            let s = try Self.sockets(o[i])
            let tcp = try #require(s.first { $0["local_port"] as? Int == port }, "no socket on port \(port): \(s)")
            #expect(["INET", "INET6"].contains(tcp["family_name"] as? String) && tcp["type_name"] as? String == "STREAM", "\(tcp)")
            #expect(tcp["state_name"] as? String == "LISTEN" && tcp["remote_port"] as? Int == 0, "\(tcp)")
            #expect((tcp["local_address"] as? String).map { $0 == "::" || $0 == "0.0.0.0" } == true, "\(tcp)")
        }
        let unix = try Self.sockets(o[2])
        let log = try #require(unix.first { $0["path"] as? String == "/dev/log" }, "\(unix)")
        #expect(log["family_name"] as? String == "UNIX" && log["type_name"] as? String == "DGRAM", "\(log)")
        // The socket sits before the inode in its socket_alloc: files' inode less vfs_inode's offset.
        let files = try #require(o[3]["files"] as? [[String: Any]])
        let file = try #require(files.first { $0["fd"] as? Int == log["fd"] as? Int })
        #expect(file["type"] as? String == "SOCK" && file["file"] as? String == log["file"] as? String, "\(file)")
        let inode = try #require(UInt64((file["inode"] as? String ?? "").dropFirst(2), radix: 16))
        let offset = try #require(o[4]["integer"] as? UInt64)
        #expect(log["socket"] as? String == String(format: "0x%llx", inode - offset), "\(log) \(file)")
        let sk = try KernelTests.json(fx.elf, ["p/x ((struct socket *)\(log["socket"] as? String ?? "0"))->sk"])[0]
        #expect(sk["integer"] as? UInt64 == UInt64((log["sock"] as? String ?? "").dropFirst(2), radix: 16), "\(sk)")
        #expect(o[5]["ok"] as? Bool == false && o[6]["ok"] as? Bool == false)
        let text = try runMkdbg(["-c", fx.elf, "-e", "net -s \(netd)"]).out
        #expect(text.contains("FD  SOCKET") && text.contains("FAMILY:TYPE") && text.contains("SOURCE-PORT")
                && text.contains("-8080") && text.contains("LISTEN"), "\(text)")
        let each = try KernelTests.json(fx.elf, ["foreach mk-netd mk-syslogd net -s"])[0]
        let tasks = try #require(each["tasks"] as? [[String: Any]])
        #expect(tasks.count == 2 && tasks.allSatisfy { $0["ok"] as? Bool == true }, "\(each)")
        // No PID: the selected task's.
        let selected = try KernelTests.json(fx.elf, ["set \(listener)", "net -s"])[1]
        let ports = try Self.sockets(selected).compactMap { $0["local_port"] as? Int }
        #expect(selected["pid"] as? Int == listener && ports == [7777], "\(selected)")
    }

    @Test(arguments: ["running", "panicked"]) func ipcObjectsOfMkIpc(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let facts = try Self.facts(fx)
        let ipc = try #require(facts["ipc"] as? [String: [String: Int]], "facts.json has no ipc (mk-ipc not built)")
        let o = try KernelTests.json(fx.elf, ["ipcs", "ipcs -m", "ipcs -n \(try Self.pid(facts, "mk-ipc"))", "p &init_ipc_ns"])
        #expect(o[0]["ok"] as? Bool == true && (o[0]["warnings"] as? [Any])?.isEmpty == true, "\(o[0])")
        func one(_ kind: String) throws -> [String: Any] {
            let list = try #require(o[0][kind] as? [[String: Any]], "\(o[0])")
            let want = try #require(ipc[kind])
            let got = try #require(list.first { $0["key"] as? Int == want["key"] }, "no \(kind) with key \(want["key"] ?? 0): \(list)")
            #expect(got["id"] as? Int == want["id"], "\(got)")
            return got
        }
        let shm = try one("shm"), sem = try one("sem"), msg = try one("msg")
        #expect(shm["size"] as? Int == ipc["shm"]?["count"] && shm["nattch"] as? Int == 1 && shm["mode"] as? Int == 0o640, "\(shm)")
        #expect(sem["nsems"] as? Int == ipc["sem"]?["count"] && sem["mode"] as? Int == 0o600, "\(sem)")
        // Two messages of mk-ipc's 32-byte text.
        #expect(msg["messages"] as? Int == ipc["msg"]?["count"] && msg["used_bytes"] as? Int == 64 && msg["mode"] as? Int == 0o620, "\(msg)")
        #expect(o[1]["sem"] is NSNull && (o[1]["shm"] as? [Any])?.count == (o[0]["shm"] as? [Any])?.count, "\(o[1])")
        // mk-ipc lives in the initial IPC namespace.
        #expect(o[2]["ipc_namespace"] as? String == o[0]["ipc_namespace"] as? String, "\(o[2])")
        let initNS = try #require(o[3]["integer"] as? UInt64)
        #expect(o[0]["ipc_namespace"] as? String == String(format: "0x%llx", initNS))
        let text = try runMkdbg(["-c", fx.elf, "-e", "ipcs"]).out
        #expect(text.contains("SHMID_KERNEL     KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS")
                && text.contains(" 6d6b6462 ") && text.contains("SEM_ARRAY") && text.contains("MSG_QUEUE"), "\(text)")
    }

    @Test(arguments: ["running", "panicked"]) func theZramSwapArea(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let facts = try Self.facts(fx)
        let swap = try #require(facts["swap"] as? [String: Any], "facts.json has no swap (no zram in the guest)")
        let o = try KernelTests.json(fx.elf, ["swap", "p/x swap_info[0]"])
        #expect(o[0]["ok"] as? Bool == true && (o[0]["warnings"] as? [Any])?.isEmpty == true, "\(o[0])")
        let devices = try #require(o[0]["devices"] as? [[String: Any]])
        #expect(devices.count == 1, "\(devices)")
        let d = try #require(devices.first)
        #expect(d["path"] as? String == swap["file"] as? String && d["type"] as? String == swap["type"] as? String, "\(d)")
        #expect(d["size_kib"] as? Int == swap["size_kib"] as? Int && d["priority"] as? Int == swap["priority"] as? Int, "\(d)")
        #expect((d["used_kib"] as? Int).map { $0 >= 0 && $0 <= (swap["size_kib"] as? Int ?? 0) } == true, "\(d)")
        #expect(d["swap_info_struct"] as? String == String(format: "0x%llx", o[1]["integer"] as? UInt64 ?? 0), "\(d)")
        let text = try runMkdbg(["-c", fx.elf, "-e", "swap"]).out
        #expect(text.hasPrefix("SWAP_INFO_STRUCT    TYPE       SIZE       USED    PCT  PRI  FILENAME\n")
                && text.contains("PARTITION") && text.contains(" \(swap["size_kib"] as? Int ?? 0)k ") && text.contains("/dev/zram0"), "\(text)")
    }

    /// nr_swapfiles made larger than swap_info[] (MAX_SWAPFILES): the read stops at the array's end, with a warning.
    @Test func aSwapCountPastTheArray() throws {
        let fx = try LabFixture.load("running")
        let at = try #require(try KernelTests.json(fx.elf, ["p/x &nr_swapfiles"])[0]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "swap-count")
        defer { damaged.remove() }
        try damaged.write([0x00, 0x10, 0x00, 0x00], atVirtual: at)
        let got = try KernelTests.json(damaged.path, ["swap"])[0]
        #expect((got["devices"] as? [Any])?.count == 1, "\(got)")
        let warnings = try #require(got["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("nr_swapfiles is 4096") }, "\(warnings)")
    }

    /// The shm IDR's head made an xa_node (built in empty_zero_page) whose first slot is itself, and
    /// the message queues' in_use made 5: the walk stops at the cycle with a warning naming the node,
    /// the count that disagrees is reported, the other objects still listed.
    @Test func aLoopingIDRAndAWrongCount() throws {
        let fx = try LabFixture.load("running")
        let o = try KernelTests.json(fx.elf, ["p/x &init_ipc_ns.ids[2].ipcs_idr.idr_rt.xa_head", "p/x &empty_zero_page",
                                              "p offsetof(struct xa_node, shift)", "p offsetof(struct xa_node, slots)",
                                              "p/x &init_ipc_ns.ids[1].in_use", "ipcs"])
        let head = try #require(o[0]["integer"] as? UInt64), node = try #require(o[1]["integer"] as? UInt64)
        let shift = try #require(o[2]["integer"] as? UInt64), slots = try #require(o[3]["integer"] as? UInt64)
        let inUse = try #require(o[4]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "ipcs-loop")
        defer { damaged.remove() }
        try damaged.write([6], atVirtual: node + shift)
        try damaged.write(node | 2, atVirtual: node + slots)
        try damaged.write(node | 2, atVirtual: head)
        try damaged.write([5, 0, 0, 0], atVirtual: inUse)
        let (r, got) = try HostileWalkTests.run(damaged.path, ["ipcs"])
        #expect(r.status == 0 && r.seconds < 20)
        guard got.count == 1 else { return }
        let w = HostileWalkTests.warnings(got[0])
        #expect(w.contains { $0.contains("init_ipc_ns.ids[2]: xa_node \(String(format: "0x%llx", node)) met twice (a cycle)") }, "\(w)")
        #expect(w.contains { $0.contains("init_ipc_ns.ids[1]: in_use is 5, the IDR holds 1") }, "\(w)")
        #expect((got[0]["shm"] as? [Any])?.isEmpty == true, "\(got[0])")
        #expect((got[0]["sem"] as? [Any])?.count == (o[5]["sem"] as? [Any])?.count && (got[0]["msg"] as? [Any])?.count == 1, "\(got[0])")
    }

    /// syslogd's unix_address made to claim a 2 GiB name: no more than sun_path's 108 bytes are read,
    /// and the name is still the one before its NUL.
    @Test func aHugeUnixAddressLength() throws {
        let fx = try LabFixture.load("running")
        let pid = try Self.pid(try Self.facts(fx), "mk-syslogd")
        let before = try Self.sockets(try KernelTests.json(fx.elf, ["net -s \(pid)"])[0])
        let log = try #require(before.first { $0["path"] as? String == "/dev/log" }, "\(before)")
        let o = try KernelTests.json(fx.elf, ["p/x ((struct unix_sock *)\(log["sock"] as? String ?? "0"))->addr",
                                              "p offsetof(struct unix_address, len)"])
        let addr = try #require(o[0]["integer"] as? UInt64), len = try #require(o[1]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "unix-len")
        defer { damaged.remove() }
        try damaged.write([0xff, 0xff, 0xff, 0x7f], atVirtual: addr + len)
        let (r, got) = try HostileWalkTests.run(damaged.path, ["net -s \(pid)"])
        #expect(r.status == 0)
        guard got.count == 1 else { return }
        let after = try Self.sockets(got[0])
        #expect(after.first { $0["fd"] as? Int == log["fd"] as? Int }?["path"] as? String == "/dev/log", "\(after)")
    }
}
