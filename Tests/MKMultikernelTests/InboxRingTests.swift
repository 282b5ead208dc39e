import Testing
import Foundation
@testable import MKMultikernel

@Suite struct InboxRingTests {
    static let ioType: UInt64 = 0x1000, resource: UInt64 = 0x2000, system: UInt64 = 0x3000, network: UInt64 = 0x5000
    static let mkty: UInt64 = 0x4d4b5459

    /// A host inbox as the traffic leaves it: two consumed slots, four pending
    /// (console text, an ACK, a vsock packet, one claimed but unpublished).
    static func hostRing() throws -> RingBuilder {
        var r = RingBuilder(layout: try RingBuilder.layout("newest"))
        r.indices(head: 6, tail: 2)
        // Consumed: the consumer zeroed data_size and left the rest.
        r.slot(0, sender: 4, type: mkty, buffer: RingBuilder.console(2, id: 2, "db console: tick 1\n"), published: false)
        r.slot(1, sender: 2, type: system, buffer: RingBuilder.message(0x3000, 0x3004, RingBuilder.ack(operation: 0x3002, result: 0, resource: 1)), published: false)
        r.slot(2, sender: 3, type: mkty, buffer: RingBuilder.console(2, id: 1, "web console: tick 2\n"))
        r.slot(3, sender: 5, type: resource, buffer: RingBuilder.message(0x2000, 0x2100, RingBuilder.ack(operation: 0x2001, result: -16, resource: 7)))
        r.slot(4, sender: 2, type: network, buffer: RingBuilder.message(0x5000, 0x5001, RingBuilder.vsock(src: 1, dst: 0, srcPort: 80, dstPort: 49153, op: 5, data: "HTTP/1.0 200 OK\r\n")))
        r.slot(5, sender: 4, type: mkty, buffer: RingBuilder.console(2, id: 2, "half written"), published: false)
        return r
    }

    @Test func pendingSlotsDecode() throws {
        let r = try Self.hostRing()
        let ring = InboxRing.parse(r.bytes, layout: r.layout, instanceNames: [1: "web", 2: "db"])
        #expect(ring.problems.isEmpty, "\(ring.problems)")
        #expect(ring.head == 6 && ring.tail == 2 && ring.pendingCount == 4)
        #expect(ring.slots.map(\.index) == [2, 3, 4, 5])
        #expect(ring.slots.map(\.state) == [.pending, .pending, .pending, .pending])
        #expect(ring.slots.map(\.published) == [true, true, true, false])
        #expect(ring.slots.map(\.senderCpu) == [3, 5, 2, 4])
        #expect(ring.slots.allSatisfy { $0.problems.isEmpty })

        let console = try #require(ring.slots[0].message)
        #expect(console.kind == .console)
        #expect(console.value["text"] == .string("web console: tick 2\n"))
        #expect(console.value["console_name"] == .string("web"))
        #expect(console.value["type_name"] == .string("MKTTY_MSG_OUTPUT"))
        #expect(console.summary == #"console output web (id 1), 20 bytes: "web console: tick 2\n""#)

        let ack = try #require(ring.slots[1].message)
        #expect(ack.summary == "MK_RES_ACK operation=MK_RES_CPU_ADD result=-EBUSY resource_id=7")
        #expect(ack.value["msg_subtype_name"] == .string("MK_RES_ACK"))
        #expect(ack.value["payload"]?["result"] == .uint(0xfffffff0))
        #expect(ack.value["payload"]?["operation_name"] == .string("MK_RES_CPU_ADD"))

        let vsock = try #require(ring.slots[2].message)
        #expect(vsock.value["payload"]?["struct"] == .string("virtio_vsock_hdr"))
        #expect(vsock.value["payload"]?["dst_port"] == .uint(49153))
        #expect(vsock.value["payload"]?["op_name"] == .string("RW"))
        #expect(vsock.value["payload"]?["data"] == .string("HTTP/1.0 200 OK\r\n"))
        #expect(vsock.summary.hasPrefix("MK_NET_VSOCK_PKT src_cid=1 dst_cid=0 src_port=80 dst_port=49153 len=17 type=STREAM op=RW"))

        // Claimed, not published: decoded from the lengths inside it, and the consumer stops there.
        #expect(ring.slots[3].message?.value["text"] == .string("half written"))
        #expect(ring.notes.contains("slot 5 is claimed but not published: the consumer stops there"))
    }

    @Test func consumedSlotsWithAll() throws {
        let r = try Self.hostRing()
        let ring = InboxRing.parse(r.bytes, layout: r.layout, includeConsumed: true, instanceNames: [1: "web", 2: "db"])
        #expect(ring.pendingCount == 4)
        // Oldest first: head..tail-1 (only slots ever written), then the pending ones.
        #expect(ring.slots.map(\.index) == [0, 1, 2, 3, 4, 5])
        #expect(ring.slots.map(\.state) == [.consumed, .consumed, .pending, .pending, .pending, .pending])
        // data_size is 0 in a consumed slot; the lengths inside still decode it.
        #expect(ring.slots[0].message?.value["text"] == .string("db console: tick 1\n"))
        #expect(ring.slots[1].message?.summary == "MK_SYS_HALTED operation=MK_SYS_SHUTDOWN result=0 resource_id=1")
        #expect(ring.slots[0].consumed && !ring.slots[0].published)
    }

    @Test func emptyAndFullRings() throws {
        var r = RingBuilder(layout: try RingBuilder.layout("newest"))
        r.indices(head: 17, tail: 17)
        var ring = InboxRing.parse(r.bytes, layout: r.layout)
        #expect(ring.pendingCount == 0 && ring.slots.isEmpty && ring.problems.isEmpty)
        // Wrapping: tail 60, head 59 is 63 pending, a full ring.
        r.indices(head: 59, tail: 60)
        for i in 0..<64 { r.slot(i, sender: 2, type: Self.system, buffer: RingBuilder.message(0x3000, 0x3001)) }
        ring = InboxRing.parse(r.bytes, layout: r.layout)
        #expect(ring.pendingCount == 63)
        #expect(ring.slots.first?.index == 60 && ring.slots.last?.index == 58)
        #expect(ring.slots.allSatisfy { $0.message?.summary == "MK_SYS_HEARTBEAT" })
        #expect(ring.notes.contains("the ring is full: senders get -ENOSPC"))
    }

    @Test func corruptRingIsReportedNotTrusted() throws {
        var r = try Self.hostRing()
        r.put(r.layout.head, 70)   // head + 64: out of range, same value masked
        r.put(r.layout.dataSize, 5000, base: r.layout.slotOffset(3))
        let ring = InboxRing.parse(r.bytes, layout: r.layout)
        #expect(ring.pendingCount == nil)
        #expect(ring.problems.contains { $0.hasPrefix("head 70 is outside 0..63 (masked it would be 6") })
        #expect(ring.problems.contains { $0.hasPrefix("which slots are pending cannot be told") })
        // The slots whose data_size is set (with -a: all that hold anything), in index order, state unknown.
        #expect(ring.slots.map(\.index) == [2, 3, 4])
        #expect(ring.slots.allSatisfy { $0.state == .unknown })
        #expect(InboxRing.parse(r.bytes, layout: r.layout, includeConsumed: true).slots.map(\.index) == [0, 1, 2, 3, 4, 5])
        let bad = try #require(ring.slots.first { $0.index == 3 })
        #expect(bad.message == nil)
        #expect(bad.problems == ["data_size 5000 exceeds the 4096-byte buffer: the consumer drops the slot; its contents are not decoded"])

        // A negative tail, too.
        r.put(r.layout.tail, -1)
        #expect(InboxRing.parse(r.bytes, layout: r.layout).problems.contains("tail -1 is outside 0..63"))
    }

    @Test func badMessagesAreFlagged() throws {
        var r = RingBuilder(layout: try RingBuilder.layout("14213ee5"))
        r.indices(head: 7, tail: 0)
        // A type no table knows.
        r.slot(0, sender: 2, type: 0x7777, buffer: [1, 2, 3, 4])
        // payload_len bigger than the bytes sent.
        r.slot(1, sender: 2, type: Self.resource, buffer: RingBuilder.message(0x2000, 0x2001, RingBuilder.cpu(7), payloadLen: 300))
        // msg_type disagreeing with the slot type, and an unknown subtype.
        r.slot(2, sender: 2, type: Self.system, buffer: RingBuilder.message(0x2000, 0x2999))
        // Shorter than struct mk_message.
        r.slot(3, sender: 2, type: Self.system, buffer: [1, 2, 3])
        // MKTY len beyond data_size.
        r.slot(4, sender: 3, type: Self.mkty, buffer: RingBuilder.console(2, id: 1, "abc", len: 100))
        // A payload shorter than its struct.
        r.slot(5, sender: 2, type: Self.resource, buffer: RingBuilder.message(0x2000, 0x2001, [7, 0, 0, 0]))
        // A subtype of another category.
        r.slot(6, sender: 2, type: Self.system, buffer: RingBuilder.message(0x3000, 0x2100, RingBuilder.ack(operation: 1, result: 0, resource: 0)))
        let ring = InboxRing.parse(r.bytes, layout: r.layout)
        #expect(ring.problems.isEmpty)
        let p = ring.slots.map(\.problems)
        #expect(p[0] == ["type 0x7777 is not a slot type layout 14213ee5 knows"])
        #expect(ring.slots[0].message?.kind == .raw)
        #expect(p[1] == ["payload_len 300 exceeds the 24 bytes after the header (data_size 48): the consumer drops it"])
        #expect(p[2].contains("msg_type 0x2000 differs from the slot type 0x3000 (MK_MSG_SYSTEM): the consumer rejects it"))
        #expect(p[2].contains("subtype 0x2999 is not one layout 14213ee5 knows"))
        #expect(p[3] == ["data_size 3 is smaller than struct mk_message (24 bytes): the consumer drops it"])
        #expect(p[4] == ["len 100 exceeds the 3 bytes the slot's data_size leaves"])
        #expect(p[5] == ["payload_len 4 is shorter than struct mk_cpu_resource_payload (24 bytes)"])
        #expect(p[6] == ["subtype MK_RES_ACK belongs to category 0x2000, not to msg_type 0x3000"])
    }

    @Test func everyPayloadKindDecodes() throws {
        let l = try RingBuilder.layout("newest")
        func decode(_ type: UInt64, _ buffer: [UInt8]) -> DecodedMessage {
            MessageDecoder.decode(type: type, bytes: buffer[...], sizeKnown: true, layout: l)
        }
        func u16(_ v: UInt16) -> [UInt8] { RingBuilder.le(v) }
        func u32(_ v: UInt32) -> [UInt8] { RingBuilder.le(v) }
        func u64(_ v: UInt64) -> [UInt8] { RingBuilder.le(v) }
        func s32(_ v: Int32) -> [UInt8] { RingBuilder.le(v) }
        var irqPayload: [UInt8] = u32(25) + u32(1)
        irqPayload += u32(0x900) + u32(6)
        let irq = decode(Self.ioType, RingBuilder.message(0x1000, 0x1001, irqPayload))
        #expect(irq.summary == "MK_IO_IRQ_FORWARD irq_number=25 vector=0x1 device_id=2304 flags=0x6")
        var memPayload: [UInt8] = u64(0x120000) + u64(0x8000)
        memPayload += u32(0) + u32(1)
        memPayload += s32(0) + [0, 0, 0, 0]
        let mem = decode(Self.resource, RingBuilder.message(0x2000, 0x2003, memPayload))
        #expect(mem.summary == "MK_RES_MEM_ADD start_pfn=0x120000 nr_pages=32768 numa_node=0 mem_type=NORMAL sender_instance_id=0")
        var driver = Array("virtio-pci".utf8)
        driver += [UInt8](repeating: 0, count: 64 - driver.count)
        var devPayload: [UInt8] = u16(0) + [0x0a, 0x08]
        devPayload += u32(0) + driver
        devPayload += s32(0)
        let dev = decode(Self.resource, RingBuilder.message(0x2000, 0x2006, devPayload))
        #expect(dev.summary == #"MK_RES_DEVICE_ADD domain=0 bus=10 devfn=0x8 flags=0x0 driver_override="virtio-pci" sender_instance_id=0"#)
        #expect(dev.value["payload"]?["driver_override"] == MessageValue.string("virtio-pci"))
        let shutdown = decode(Self.system, RingBuilder.message(0x3000, 0x3002, u32(1) + s32(0)))
        #expect(shutdown.summary == "MK_SYS_SHUTDOWN flags=GRACEFUL sender_instance_id=0")
        let cpu = decode(Self.resource, RingBuilder.message(0x2000, 0x2002, RingBuilder.cpu(7, sender: -1)))
        #expect(cpu.summary == "MK_RES_CPU_REMOVE cpu_id=7 numa_node=0 flags=0x0 sender_instance_id=-1")
        #expect(cpu.value["payload"]?["sender_instance_id"] == MessageValue.int(-1))
        let input = decode(Self.mkty, RingBuilder.console(1, id: 0, "uptime\n"))
        #expect(input.summary == #"console input id 0, 7 bytes: "uptime\n""#)
        let ready = decode(Self.network, RingBuilder.message(0x5000, 0x5002))
        #expect(ready.summary == "MK_NET_DATA_READY" && ready.problems.isEmpty)
        let credit = decode(Self.network, RingBuilder.message(0x5000, 0x5001, RingBuilder.vsock(src: 0, dst: 2, srcPort: 49152, dstPort: 5432, op: 6, data: "")))
        #expect(credit.summary.contains("op=CREDIT_UPDATE") && credit.problems.isEmpty)
        #expect(MessageDecoder.quoted("a\"b\\c\u{1}", limit: 10) == #""a\"b\\c\x01""#)
    }

    @Test func rfcEraRing() throws {
        var r = RingBuilder(layout: try RingBuilder.layout("9d5973eb"))
        r.indices(head: 1, tail: 63)
        r.slot(63, sender: 1, type: Self.system, buffer: RingBuilder.message(0x3000, 0x3001))
        r.slot(0, sender: -1, type: Self.mkty, buffer: RingBuilder.console(2, id: 1, String(repeating: "x", count: 300)))
        let ring = InboxRing.parse(r.bytes, layout: r.layout)
        #expect(ring.pendingCount == 2 && ring.slots.map(\.index) == [63, 0])
        #expect(ring.slots[1].senderCpu == -1)
        // 300 bytes of text do not fit a 256-byte slot: data_size says 316.
        #expect(ring.slots[1].problems.first?.hasPrefix("data_size 316 exceeds the 256-byte buffer") == true)
    }

    @Test func aShortReadIsAProblem() throws {
        let l = try RingBuilder.layout("14213ee5")
        var r = RingBuilder(layout: l)
        r.indices(head: 1, tail: 0)
        r.slot(0, sender: 2, type: Self.system, buffer: RingBuilder.message(0x3000, 0x3001))
        let ring = InboxRing.parse(Array(r.bytes.prefix(4096)), layout: l)
        #expect(ring.problems == ["only 4096 of the ring's 264208 bytes (layout 14213ee5) were read",
                                  "pending slot 0 lies beyond the bytes read"])
        #expect(ring.slots.count == 0 && ring.pendingCount == 1)
    }

    @Test func cpuOwners() {
        let o = CpuOwners(instanceCpus: [("web", [2, 3]), ("db", [4, 5]), ("spare", [6])], poolCpus: [2, 3, 4, 5, 6, 7])
        #expect(o.owner(of: 3) == .instance("web"))
        #expect(o.owner(of: 6) == .instance("spare"))
        #expect(o.owner(of: 7) == .unassigned)
        #expect(o.owner(of: 0) == .host && o.owner(of: 1).name == "host")
        #expect(o.owner(of: -1) == .unknown)
        #expect(CpuOwners(instanceCpus: [], poolCpus: nil).owner(of: 0) == .unknown)
    }
}
