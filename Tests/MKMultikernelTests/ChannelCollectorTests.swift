import Testing
import Foundation
import MKFormat
import MKDebugInfo
@testable import MKMultikernel

@Suite struct ChannelCollectorTests {
    static let hostPhys: UInt64 = 0x1_8000_0000, webPhys: UInt64 = 0x1_8008_0000, dbPhys: UInt64 = 0x1_8010_0000

    /// The standard fake machine with inboxes: `ipi_buffer` files, and
    /// kcores (memory images) of web and db that map the host's inbox and
    /// their own, as the debug interface says.
    static func machine() throws -> (FakeKernfs, ChannelCollector, opened: () -> [String]) {
        let k = try FakeKernfs.standard()
        try k.write("sys/fs/multikernel/ipi_buffer", "180000000 41000\n")
        try k.write("sys/fs/multikernel/instances/web/ipi_buffer", "180080000 41000\n")
        try k.write("sys/fs/multikernel/instances/db/ipi_buffer", "180100000 41000\n")
        try k.write("sys/fs/multikernel/instances/spare/ipi_buffer", "0 0\n")
        let layout = try RingBuilder.layout("newest")
        var host = try InboxRingTests.hostRing()
        host.bytes += [UInt8](repeating: 0, count: 0x41000 - host.bytes.count)
        var web = RingBuilder(layout: layout, size: 0x41000)
        web.indices(head: 3, tail: 1)
        web.slot(1, sender: 0, type: 0x3000, buffer: RingBuilder.message(0x3000, 0x3001))
        web.slot(2, sender: 1, type: 0x2000, buffer: RingBuilder.message(0x2000, 0x2001, RingBuilder.cpu(7)))
        var db = RingBuilder(layout: layout, size: 0x41000)
        db.indices(head: 9, tail: 9)
        var opened: [String] = []
        let collector = ChannelCollector(kernfs: Kernfs(root: k.root), layouts: RingBuilder.store) { inst in
            opened.append(inst.name)
            let own = inst.name == "web" ? (webPhys, web.bytes) : (dbPhys, db.bytes)
            return try Target(image: MemoryImage(path: "/fake/\(inst.name)/kcore", chunks: [(hostPhys, host.bytes), own]))
        }
        return (k, collector, { opened })
    }

    @Test func everyInbox() throws {
        let (k, collector, opened) = try Self.machine()
        let channels = try collector.collect(.init())
        #expect(channels.map(\.name) == ["host", "db", "spare", "web"])
        let host = channels[0], db = channels[1], spare = channels[2], web = channels[3]
        #expect(host.phys == Self.hostPhys && host.size == 0x41000 && host.addressSource == "ipi_buffer")
        #expect(host.ring?.pendingCount == 4 && host.allProblems.isEmpty)
        // Read through the first instance kcore mapping it (db, in name order).
        #expect(host.readThrough == "db's kcore (/fake/db/kcore)")
        #expect(host.ring?.layout.era == "223163d8")
        #expect(host.layoutReason == "no vmlinux for db's kcore (/fake/db/kcore); the newest era")
        // Console ids are named by the instances' ids.
        #expect(host.ring?.slots.first?.message?.value["console_name"] == .string("web"))
        #expect(db.ring?.pendingCount == 0 && db.readThrough == "db's kcore (/fake/db/kcore)")
        #expect(spare.addressSource == "none" && spare.ring == nil && spare.allProblems.isEmpty)
        #expect(web.readThrough == "web's kcore (/fake/web/kcore)")
        #expect(web.ring?.slots.map { $0.message?.summary } == ["MK_SYS_HEARTBEAT", "MK_RES_CPU_ADD cpu_id=7 numa_node=0 flags=0x0 sender_instance_id=0"])
        // Senders: CPUs 0-1 are outside the pool (the host's), 2-3 web's, 4-5 db's.
        let owners = try #require(collector.owners)
        #expect(host.ring?.slots.map { owners.owner(of: $0.senderCpu).name } == ["web", "db", "web", "db"])
        #expect(web.ring?.slots.map { owners.owner(of: $0.senderCpu).name } == ["host", "host"])
        #expect(opened() == ["db", "web"], "each kcore opened once")
        withExtendedLifetime(k) {}
    }

    @Test func oneChannelAndUnknownNames() throws {
        let (k, collector, opened) = try Self.machine()
        defer { withExtendedLifetime(k) {} }
        let web = try collector.collect(.init(only: "web", includeConsumed: true))
        #expect(web.map(\.name) == ["web"])
        #expect(opened() == ["web"])
        #expect(try collector.collect(.init(only: "host")).map(\.name) == ["host"])
        #expect(throws: MultikernelError.unknownInstance("nope", known: ["host", "db", "spare", "web"])) {
            try collector.collect(.init(only: "nope"))
        }
        #expect(throws: MultikernelError.self) { try collector.collect(.init(layoutName: "nosuchera")) }
        let rfc = try collector.collect(.init(only: "web", layoutName: "9d5973eb"))
        #expect(rfc.first?.ring?.layout.era == "9d5973eb")
    }

    @Test func missingIpiBufferWithoutHostMemoryIsUnknown() throws {
        let (k, collector, _) = try Self.machine()
        try FileManager.default.removeItem(atPath: k.mount + "/instances/db/ipi_buffer")
        try FileManager.default.removeItem(atPath: k.mount + "/ipi_buffer")
        let channels = try collector.collect(.init())
        let db = try #require(channels.first { $0.name == "db" })
        #expect(db.phys == nil && db.addressSource == "unknown" && db.ring == nil)
        #expect(db.problems == ["inbox address unknown: no \(k.mount)/instances/db/ipi_buffer, and the host kernel's memory cannot tell it (\(k.root)/proc/kcore does not exist: this kernel does not offer the host kernel's memory)"])
        #expect(channels.first?.addressSource == "unknown")
        #expect(channels.first { $0.name == "web" }?.ring?.pendingCount == 2)
    }

    @Test func aRingNoImageMapsIsAProblem() throws {
        let (k, collector, _) = try Self.machine()
        try k.write("sys/fs/multikernel/instances/web/ipi_buffer", "190000000 41000\n")
        let web = try #require(try collector.collect(.init(only: "web")).first)
        #expect(web.ring == nil)
        #expect(web.problems.first?.hasPrefix("no image maps the ring at 0x190000000: web's kcore does not map it; db's kcore does not map it") == true)
    }

    @Test func aSmallInboxForTheLayoutIsAProblem() throws {
        let (k, collector, _) = try Self.machine()
        try k.write("sys/fs/multikernel/instances/web/ipi_buffer", "180080000 4400\n")
        let web = try #require(try collector.collect(.init(only: "web")).first)
        #expect(web.problems == ["the ring of layout 223163d8 takes 264208 bytes but the inbox is 17408 bytes: wrong era? (--layout)"])
        #expect(web.ring?.problems.first == "only 17408 of the ring's 264208 bytes (layout 223163d8) were read")
    }

    @Test func aMalformedIpiBufferIsAProblem() throws {
        let (k, collector, _) = try Self.machine()
        try k.write("sys/fs/multikernel/instances/web/ipi_buffer", "garbage\n")
        let web = try #require(try collector.collect(.init(only: "web")).first)
        #expect(web.phys == nil && web.ring == nil && web.addressSource == "unknown")
        #expect(web.problems == ["inbox address unknown: \(k.mount)/instances/web/ipi_buffer: expected \"<phys-hex> <size-hex>\""])
    }
}
