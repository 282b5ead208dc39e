import Testing
import Foundation
import MKDebugInfo
@testable import MKMultikernel

@Suite struct RingLayoutTests {
    @Test func theEraFilesLoad() throws {
        let (layouts, problems) = RingBuilder.store.all()
        #expect(problems.isEmpty, "\(problems)")
        #expect(layouts.map(\.era) == ["223163d8", "14213ee5", "00ff7b01", "9d5973eb"])
        #expect(try RingBuilder.store.newest().era == "223163d8")
        #expect(try RingBuilder.layout("newest").era == "223163d8")
        let newest = try RingBuilder.layout("14213ee5")
        #expect(newest.aliases == ["pool"])
        #expect(try RingBuilder.layout("rfc").era == "9d5973eb")
        // upstream.md 4.6: sizes and offsets of each era.
        #expect(newest.slotSize == 4120 && newest.ringSize == 264208 && newest.slotCount == 64)
        #expect(newest.forceHalt?.offset == 263688 && newest.parkedOffset == 263692 && newest.parkedSize == 512)
        #expect(newest.senderCpu == RingLayout.Spot(offset: 0, size: 8) && newest.dataSize.offset == 16 && newest.bufferOffset == 24)
        let manifest = try RingBuilder.layout("00ff7b01")
        #expect(manifest.slotSize == 4120 && manifest.parkedOffset == nil && manifest.forceHalt?.offset == 263688)
        let rfc = try RingBuilder.layout("9d5973eb")
        #expect(rfc.slotSize == 272 && rfc.ringSize == 17416 && rfc.bufferSize == 256 && rfc.forceHalt == nil)
        #expect(rfc.senderCpu == RingLayout.Spot(offset: 0, size: 4, signed: true))
        for l in layouts {
            #expect(l.problems().isEmpty)
            #expect(l.slotType(0x4d4b5459)?.decoding == .console)
            #expect(l.subtype(0x2100)?.payload == "mk_resource_ack")
            #expect(l.structs["mk_message"]?.trailerOffset == 20)
        }
        #expect(throws: MultikernelError.self) { try RingBuilder.layout("nosuchera") }
    }

    static func msi(rid: UInt32, event: UInt32, nvecs: UInt32, cpu: UInt64, doorbell: UInt64, result: Int32, sender: Int32) -> [UInt8] {
        RingBuilder.le(UInt32(0)) + RingBuilder.le(rid) + RingBuilder.le(event) + RingBuilder.le(nvecs)
            + RingBuilder.le(cpu) + RingBuilder.le(doorbell) + RingBuilder.le(result) + RingBuilder.le(sender)
    }

    /// include/linux/multikernel.h @ 223163d8: the ring of 14213ee5, two
    /// more MK_MSG_IO subtypes and their 40-byte payload.
    @Test func arm64EraAddsTheMsiSubtypes() throws {
        let l = try RingBuilder.layout("223163d8")
        let pool = try RingBuilder.layout("14213ee5")
        #expect(l.ringSize == pool.ringSize && l.slotSize == pool.slotSize && l.parkedOffset == pool.parkedOffset)
        #expect(l.subtype(0x1005) == RingLayout.Subtype(value: 0x1005, name: "MK_IO_MSI_MAP", payload: "mk_io_msi_payload"))
        #expect(l.subtype(0x1006) == RingLayout.Subtype(value: 0x1006, name: "MK_IO_MSI_ACK", payload: "mk_io_msi_payload"))
        #expect(pool.subtype(0x1005) == nil && pool.subtype(0x1006) == nil)
        let msi = try #require(l.structs["mk_io_msi_payload"])
        #expect(msi.size == 40)
        #expect(msi.fields.map { "\($0.name)@\($0.offset):\($0.size)\($0.kind == .signed ? "s" : "u")" }
                == ["domain@0:4u", "rid@4:4u", "event@8:4u", "nvecs@12:4u", "phys_cpu@16:8u", "doorbell@24:8u",
                    "result@32:4s", "sender_instance_id@36:4s"])
        // Everything else is 14213ee5's.
        #expect(l.subtypes.filter { $0.value != 0x1005 && $0.value != 0x1006 } == pool.subtypes)
        #expect(l.slotTypes == pool.slotTypes && l.enums == pool.enums)

        var r = RingBuilder(layout: l)
        r.indices(head: 2, tail: 0)
        let map = Self.msi(rid: 0x900, event: 3, nvecs: 4, cpu: 2, doorbell: 0, result: 0, sender: 1)
        r.slot(0, sender: 2, type: 0x1000, buffer: RingBuilder.message(0x1000, 0x1005, map))
        let ack = Self.msi(rid: 0x900, event: 3, nvecs: 4, cpu: 2, doorbell: 0x8090040, result: -16, sender: 0)
        r.slot(1, sender: 0, type: 0x1000, buffer: RingBuilder.message(0x1000, 0x1006, ack))
        let ring = InboxRing.parse(r.bytes, layout: l)
        #expect(ring.slots.map(\.problems) == [[], []])
        #expect(ring.slots.map { $0.message?.summary } == [
            "MK_IO_MSI_MAP domain=0 rid=0x900 event=3 nvecs=4 phys_cpu=2 doorbell=0x0 result=0 sender_instance_id=1",
            "MK_IO_MSI_ACK domain=0 rid=0x900 event=3 nvecs=4 phys_cpu=2 doorbell=0x8090040 result=-16 sender_instance_id=0"])
        // The older era does not know them.
        let old = InboxRing.parse(r.bytes, layout: pool)
        #expect(old.slots[0].problems.contains { $0.contains("subtype 0x1005 is not one layout 14213ee5 knows") })
    }

    @Test func badLayoutFilesAreRefusedNamingFileAndKey() throws {
        let good = try String(contentsOfFile: RingBuilder.projectRoot + "/symbols/layouts/14213ee5.json", encoding: .utf8)
        // A slot count that no longer fits the ring.
        let tooMany = good.replacingOccurrences(of: "\"slots\": 64", with: "\"slots\": 65")
        #expect(throws: RingLayoutFile.Error.self) { try RingLayoutFile.parse(tooMany, path: "x.json") }
        do {
            _ = try RingLayoutFile.parse(tooMany, path: "x.json")
        } catch {
            #expect("\(error)".hasPrefix("x.json: inconsistent layout: 65 slots"))
        }
        let badType = good.replacingOccurrences(of: "\"data_size\": {\"offset\": 16, \"type\": \"u64\"}", with: "\"data_size\": {\"offset\": 16, \"type\": \"float\"}")
        #expect(throws: RingLayoutFile.Error(path: "y.json", message: "slot.data_size.type: expected u8, u16, u32, u64, s8, s16, s32 or s64")) {
            try RingLayoutFile.parse(badType, path: "y.json")
        }
        #expect(throws: RingLayoutFile.Error.self) { try RingLayoutFile.parse("{\"format\": \"other\"}", path: "z.json") }
        #expect(throws: RingLayoutFile.Error.self) { try RingLayoutFile.parse("{\"format\": ", path: "z.json") }
    }

    @Test func jsonReader() throws {
        let v = try LayoutJSON.parse(#"{"a": [1, "0x10", true, null], "b": {"c": "x\ny\u0041"}, "n": -3.5e2}"#)
        #expect(v["a"]?.array?.count == 4)
        #expect(v["a"]?.array?[1].uint == 16)
        #expect(v["a"]?.array?[0].int == 1)
        #expect(v["b"]?["c"]?.string == "x\nyA")
        #expect(v["n"] == .number("-3.5e2"))
        #expect(v["n"]?.uint == nil)
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "{} x"] {
            #expect(throws: LayoutJSON.ParseError.self, "\(bad)") { try LayoutJSON.parse(bad) }
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: LayoutJSON.ParseError.self) { try LayoutJSON.parse(deep) }
    }

    // MARK: DWARF

    /// Compiles C declaring the multikernel structs (as upstream.md 4.6
    /// describes them) into an executable with DWARF, standing in for a
    /// multikernel vmlinux.
    static func compile(_ source: String) throws -> String {
        let dir = NSTemporaryDirectory() + "mkdbg-ring-dwarf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try source.write(toFile: dir + "/k.c", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gcc", "-g", "-O0", "-no-pie", "-Wl,--build-id", "-o", dir + "/vmlinux", dir + "/k.c"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return dir + "/vmlinux"
    }

    static let commonC = """
        typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
        typedef unsigned long long u64; typedef unsigned long size_t;
        typedef struct { int counter; } atomic_t;
        struct mk_message { u32 msg_type; u32 msg_subtype; u64 msg_id; u32 payload_len; u8 payload[]; };
        struct mk_resource_ack { u32 operation; u32 result; u64 resource_id; };
        struct mk_cpu_resource_payload { u64 cpu_id; u32 numa_node; u32 flags; int sender_instance_id; };
        struct mktty_message { u32 type; u32 console_id; u32 len; u32 reserved; char data[4080]; };
        struct mk_message m; struct mk_resource_ack a; struct mk_cpu_resource_payload c; struct mktty_message t;
        int main(void) { return 0; }
        """

    @Test func newestLayoutFromDwarfEqualsTheFile() throws {
        let path = try Self.compile(Self.commonC + """
            struct mk_ipi_data { u64 sender_cpu; unsigned int type; size_t data_size; char buffer[4096]; };
            struct mk_ipi_ring { atomic_t head; atomic_t tail; struct mk_ipi_data entries[64]; };
            struct mk_shared_data { struct mk_ipi_ring ring; u32 force_halt; u8 parked[512]; };
            struct mk_shared_data shared;
            """)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let d = try DebugInfo.load(try Vmlinux(path: path), cacheDirectory: nil)
        let file = try RingBuilder.layout("newest")
        let l = try #require(try RingLayout.fromDebugInfo(d, tables: file))
        #expect(l.era == "dwarf")
        #expect(l.ringSize == file.ringSize && l.slotSize == file.slotSize && l.slotCount == 64)
        #expect(l.head == RingLayout.Spot(offset: 0, size: 4, signed: true) && l.tail.offset == 4)
        #expect(l.senderCpu == file.senderCpu && l.type == file.type && l.dataSize == file.dataSize)
        #expect(l.bufferOffset == 24 && l.bufferSize == 4096 && l.forceHalt == file.forceHalt)
        #expect(l.parkedOffset == 263692 && l.parkedSize == 512)
        #expect(l.structs["mk_message"]?.trailerOffset == 20)
        #expect(l.structs["mk_message"]?.fields.map(\.name) == ["msg_type", "msg_subtype", "msg_id", "payload_len"])
        #expect(l.structs["mktty_message"]?.trailerOffset == 16)
        // Names and display hints carry over from the era file.
        #expect(l.structs["mk_resource_ack"]?.field("operation")?.names == "subtypes")
        #expect(l.structs["mk_cpu_resource_payload"]?.field("sender_instance_id")?.kind == .signed)
        // A structure the DWARF lacks (vsock's header here) stays the file's.
        #expect(l.structs["virtio_vsock_hdr"] == file.structs["virtio_vsock_hdr"])

        // Decoding with the DWARF layout gives what the file layout gives.
        var r = RingBuilder(layout: l)
        r.indices(head: 2, tail: 1)
        r.slot(1, sender: 4, type: 0x2000, buffer: RingBuilder.message(0x2000, 0x2100, RingBuilder.ack(operation: 0x2001, result: 0, resource: 7)))
        let ring = InboxRing.parse(r.bytes, layout: l)
        #expect(ring.slots.first?.message?.summary == "MK_RES_ACK operation=MK_RES_CPU_ADD result=0 resource_id=7")
    }

    @Test func rfcLayoutFromDwarf() throws {
        let path = try Self.compile(Self.commonC + """
            struct mk_ipi_data { int sender_cpu; unsigned int type; size_t data_size; char buffer[256]; };
            struct mk_ipi_ring { atomic_t head; atomic_t tail; struct mk_ipi_data entries[64]; };
            struct mk_shared_data { struct mk_ipi_ring ring; };
            struct mk_shared_data shared;
            """)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let d = try DebugInfo.load(try Vmlinux(path: path), cacheDirectory: nil)
        let l = try #require(try RingLayout.fromDebugInfo(d, tables: try RingBuilder.layout("newest")))
        let rfc = try RingBuilder.layout("rfc")
        #expect(l.slotSize == 272 && l.ringSize == 17416 && l.bufferSize == 256)
        #expect(l.senderCpu == rfc.senderCpu && l.dataSize == rfc.dataSize && l.forceHalt == nil && l.parkedOffset == nil)
    }

    @Test func kernelWithoutMultikernelTypesGivesNil() throws {
        let path = try Self.compile("struct other { int x; } o; int main(void) { return 0; }")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let d = try DebugInfo.load(try Vmlinux(path: path), cacheDirectory: nil)
        #expect(try RingLayout.fromDebugInfo(d, tables: try RingBuilder.layout("newest")) == nil)
    }
}
