import Testing
import Foundation

/// `mount`, `net` and `irq` on the lab's dumps: the mounts the lab's init made
/// (read from scripts/labkit/lab, its `mount -t TYPE DEV DIR` lines) and
/// the initramfs root, the loopback device, the serial console's and timer's IRQ actions, and an
/// irqaction chain made circular on a damaged copy. scripts/parity compares
/// every mount and descriptor with drgn.
@Suite(.serialized) struct MountNetIrqTests {
    static func ok(_ o: [String: Any]) {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
    }

    /// The `mount -t TYPE DEVICE DIR` lines of the lab guest's init script.
    static func labMounts() throws -> [(type: String, dev: String, dir: String)] {
        let script = try String(contentsOfFile: LabFixture.projectRoot + "/scripts/labkit/lab", encoding: .utf8)
        return script.split(separator: "\n").compactMap { line in
            let w = line.split(separator: " ").map(String.init)
            guard w.count == 5, w[0] == "mount", w[1] == "-t" else { return nil }
            return (w[2], w[3], w[4])
        }
    }

    @Test(arguments: ["running", "panicked"]) func mounts(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let o = try KernelTests.json(fx.elf, ["mount -p 1", "mount", "files 1", "mount -p 99999999"])
        Self.ok(o[0])
        let mounts = try #require(o[0]["mounts"] as? [[String: Any]])
        let expected = try Self.labMounts()
        #expect(!expected.isEmpty, "no mount lines in scripts/labkit/lab")
        for e in expected {
            #expect(mounts.contains { $0["type"] as? String == e.type && $0["devname"] as? String == e.dev
                                      && $0["dirname"] as? String == e.dir }, "\(e) not in \(mounts)")
        }
        // No root= on the command line: the root is the initramfs's rootfs, first in the namespace.
        let root = try #require(mounts.first)
        #expect(root["dirname"] as? String == "/" && root["type"] as? String == "rootfs", "\(root)")
        #expect(mounts.filter { $0["dirname"] as? String == "/" }.count == 1, "\(mounts)")
        #expect(Set(mounts.compactMap { $0["mount"] as? String }).count == mounts.count)
        #expect(mounts.allSatisfy { ($0["superblock"] as? String)?.hasPrefix("0xffff") == true }, "\(mounts)")
        #expect((o[0]["warnings"] as? [Any])?.isEmpty == true, "\(o[0])")
        // init's namespace is the one its root is in: files 1's ROOT is /.
        #expect(o[2]["root"] as? String == "/")
        // The default task (the panicking or a CPU's current one) shares init's namespace here.
        Self.ok(o[1])
        #expect(o[1]["mnt_namespace"] as? String == o[0]["mnt_namespace"] as? String)
        #expect(o[3]["ok"] as? Bool == false)
        let text = try runMkdbg(["-c", fx.elf, "-e", "mount -p 1"]).out
        #expect(text.contains("MOUNT") && text.contains("SUPERBLK") && text.contains("DIRNAME"), "\(text)")
        let procLine = text.split(separator: "\n").first { $0.hasSuffix(" /proc") }
        let proc = try #require(mounts.first { $0["dirname"] as? String == "/proc" })
        #expect(procLine?.hasPrefix(String((proc["mount"] as? String ?? "").dropFirst(2))) == true, "\(text)")
    }

    /// The loopback device of init_net: LOOPBACK set, a zero MAC, and
    /// 127.0.0.1 among its addresses when it is up (the lab's init does not
    /// bring it up: then no address). `net -a` lists init_net's devices too.
    @Test(arguments: ["running", "panicked"]) func devices(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let o = try KernelTests.json(fx.elf, ["net", "net -a", "p &init_net"])
        Self.ok(o[0])
        Self.ok(o[1])
        let devices = try #require(o[0]["devices"] as? [[String: Any]])
        let initNet = try #require(o[2]["integer"] as? UInt64)
        #expect(devices.allSatisfy { $0["net"] as? String == "0x" + String(initNet, radix: 16) }, "\(devices)")
        let lo = try #require(devices.first { $0["name"] as? String == "lo" }, "\(devices)")
        let flags = try #require(lo["flags"] as? Int)
        #expect(flags & 8 != 0 && (lo["flag_names"] as? [String])?.contains("LOOPBACK") == true, "\(lo)")
        #expect(lo["mac"] as? String == "00:00:00:00:00:00", "\(lo)")
        let ips = (lo["ipv4"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        if flags & 1 != 0 {
            #expect(ips.contains("127.0.0.1"), "\(lo)")
        } else {
            #expect(ips.isEmpty, "\(lo)")
        }
        let everywhere = try #require(o[1]["devices"] as? [[String: Any]])
        let mine = Set(devices.compactMap { $0["net_device"] as? String })
        #expect(mine.isSubset(of: Set(everywhere.compactMap { $0["net_device"] as? String })), "\(everywhere)")
        let text = try runMkdbg(["-c", fx.elf, "-e", "net"]).out
        let address = String((lo["net_device"] as? String ?? "").dropFirst(2))
        #expect(text.contains("NET_DEVICE") && text.split(separator: "\n").contains { $0.hasPrefix(address + "  lo ") }, "\(text)")
    }

    static func irqs(_ o: [String: Any]) throws -> [[String: Any]] {
        ok(o)
        return try #require(o["irqs"] as? [[String: Any]])
    }

    /// The guest's console is ttyS0 (console=ttyS0 on its command line): its
    /// IRQ has the action "ttyS0" and has fired (the boot log went out on
    /// it); the timer's IRQ 0 is "timer"; `irq N` is the same descriptor.
    @Test(arguments: ["running", "panicked"]) func interrupts(_ state: String) throws {
        let fx = try LabFixture.load(state)
        let all = try Self.irqs(try KernelTests.json(fx.elf, ["irq"])[0])
        #expect(all.map { $0["irq"] as? Int ?? -1 } == all.map { $0["irq"] as? Int ?? -1 }.sorted())
        let serial = try #require(all.first { ($0["actions"] as? [String])?.contains("ttyS0") == true }, "\(all)")
        #expect((serial["total"] as? Int ?? 0) > 0, "\(serial)")
        #expect(serial["chip"] is String && serial["irqaction"] is String, "\(serial)")
        let timer = try #require(all.first { $0["irq"] as? Int == 0 })
        #expect(timer["actions"] as? [String] == ["timer"], "\(timer)")
        let n = try #require(serial["irq"] as? Int)
        let one = try Self.irqs(try KernelTests.json(fx.elf, ["irq \(n)"])[0])
        #expect(one.count == 1 && one.first?["irq_desc"] as? String == serial["irq_desc"] as? String, "\(one)")
        let counts = try #require(serial["counts"] as? [[String: Any]])
        #expect(counts.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == serial["total"] as? Int)
        let text = try runMkdbg(["-c", fx.elf, "-e", "irq \(n)"])
        #expect(text.out.contains("\"ttyS0\"") && text.out.contains("CPU 0:"), "\(text.out)")
        let bad = try runMkdbg(["-c", fx.elf, "-e", "irq 100000"])
        #expect(bad.err.contains("IRQ 100000 has no descriptor"), "\(bad.err)")
    }

    /// The serial IRQ's irqaction made to point at itself: the chain walk
    /// stops with a cycle warning naming it, the name listed once.
    @Test func actionCycle() throws {
        let fx = try LabFixture.load("panicked")
        let all = try Self.irqs(try KernelTests.json(fx.elf, ["irq"])[0])
        let serial = try #require(all.first { ($0["actions"] as? [String]) == ["ttyS0"] })
        let action = try #require(UInt64(((serial["irqaction"] as? String) ?? "").dropFirst(2), radix: 16))
        let next = try #require(try KernelTests.json(fx.elf, ["p &((struct irqaction *)0)->next"])[0]["integer"] as? UInt64)
        let damaged = try DamagedDump(fx, name: "irq-action-cycle")
        defer { damaged.remove() }
        try damaged.write(action, atVirtual: action + next)
        let got = try KernelTests.json(damaged.path, ["irq \(serial["irq"] as? Int ?? -1)"])[0]
        let one = try #require(try Self.irqs(got).first)
        #expect(one["actions"] as? [String] == ["ttyS0"], "\(one)")
        let warnings = try #require(got["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("a cycle") && $0.contains(String(action, radix: 16)) }, "\(warnings)")
    }
}
