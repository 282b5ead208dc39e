import Testing
import Foundation
import MKFormat

/// Malformed FDT headers are typed errors naming the field's offset, checked
/// before libfdt (1.6.1 reads address 0 on a version 9 header).
@Suite struct DeviceTreeHeaderTests {
    /// A real DTB from dtc, with a memory reservation.
    static func validBlob() throws -> [UInt8] {
        let dir = NSTemporaryDirectory() + "mkdbg-dtb-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            /dts-v1/;
            /memreserve/ 0x1000 0x2000;
            / { model = "fuzz"; node@1 { reg = <1 2>; }; };
            """.write(toFile: dir + "/t.dts", atomically: false, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", dir + "/t.dtb", dir + "/t.dts"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/t.dtb")))
    }

    static func setting(_ blob: [UInt8], _ field: Int, _ value: UInt32) -> [UInt8] {
        var b = blob
        for i in 0..<4 { b[field + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(i))) }
        return b
    }

    func expectError(_ blob: [UInt8], _ kind: FormatError.Kind, offset: UInt64, _ words: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try DeviceTree(blob: blob, source: "pool/device_tree")
            Issue.record("expected a \(kind) error", sourceLocation: sourceLocation)
        } catch let e as FormatError {
            #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
            #expect(e.offset == offset, "\(e)", sourceLocation: sourceLocation)
            #expect(e.description.hasPrefix("pool/device_tree: at offset \(hex(offset)): "), "\(e)", sourceLocation: sourceLocation)
            #expect(e.message.hasPrefix("not a valid device tree blob: expected"), "\(e)", sourceLocation: sourceLocation)
            #expect(e.message.contains(words), "\(e)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func validBlobParses() throws {
        let tree = try DeviceTree(blob: try Self.validBlob(), source: "t.dtb")
        #expect(tree.root.property("model")?.string == "fuzz")
        #expect(tree.node(at: "/node@1")?.property("reg")?.cells == [1, 2])
        #expect(tree.reserved.map { [$0.address, $0.size] } == [[0x1000, 0x2000]])
    }

    /// The blob that made libfdt's fdt_check_full read address 0.
    @Test func oldVersionIsRefusedBeforeLibfdt() throws {
        var blob = Self.setting(try Self.validBlob(), 20, 9)
        blob = Self.setting(blob, 24, 0)
        expectError(blob, .unsupported, offset: 20, "expected device tree version 17 or later, found 9")
        // The checked-in crash input, as served in kernfs.
        expectError(Array(try Data(contentsOf: fuzzFixture("dtb/version9-lastcomp0.dtb"))),
                    .unsupported, offset: 20, "version 17 or later, found 9")
    }

    @Test func malformedHeaderFields() throws {
        let good = try Self.validBlob()
        let total = UInt32(good.count)
        expectError(Array(good.prefix(39)), .truncated, offset: 0, "device tree header (40 bytes)")
        expectError(Self.setting(good, 0, 0xfeed_d00d), .badMagic, offset: 0, "0xd00dfeed")
        expectError(Self.setting(good, 24, 18), .unsupported, offset: 24, "last_comp_version")
        expectError(Self.setting(good, 4, total + 1), .truncated, offset: 4, "totalsize")
        expectError(Self.setting(good, 4, 12), .corrupt, offset: 4, "totalsize")
        expectError(Self.setting(good, 8, total), .corrupt, offset: 8, "structure block")
        expectError(Self.setting(good, 8, 42), .corrupt, offset: 8, "4-byte aligned")
        expectError(Self.setting(good, 36, 0xffff_fff0), .corrupt, offset: 8, "structure block")
        expectError(Self.setting(good, 12, 8), .corrupt, offset: 12, "strings block")
        expectError(Self.setting(good, 32, total), .corrupt, offset: 12, "strings block")
        expectError(Self.setting(good, 16, 44), .corrupt, offset: 16, "8-byte aligned")
        expectError(Self.setting(good, 16, total - 8), .corrupt, offset: 16, "memory reservation map")
        expectError(Self.setting(good, 36, 6), .corrupt, offset: 36, "multiple of 4")
    }

    @Test func unterminatedReservationMap() throws {
        var b = try Self.validBlob()
        // Every 16-byte slot from the map to the end gets a non-zero size.
        let map = Int(b[16]) << 24 | Int(b[17]) << 16 | Int(b[18]) << 8 | Int(b[19])
        var at = map
        while at + 16 <= b.count { b[at + 15] = 1; at += 16 }
        expectError(b, .corrupt, offset: UInt64(map), "end with a zero entry")
    }
}

/// A checked-in input under Tests/Fixtures/fuzz (crash inputs the fuzzers found).
func fuzzFixture(_ name: String, file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz/" + name)
}
