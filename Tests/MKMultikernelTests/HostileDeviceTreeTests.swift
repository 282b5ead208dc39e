import Testing
import Foundation

/// A kernfs serving the version 9 DTB that crashed libfdt: every command
/// that reads device trees reports the file and carries on, in a child
/// mkdbg so that a crash fails the test instead of killing the runner.
@Suite struct HostileDeviceTreeTests {
    @Test func version9DeviceTreeIsAnErrorNotACrash() throws {
        let k = try FakeKernfs.standard()
        let hostile = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/dtb/version9-lastcomp0.dtb"))
        try hostile.write(to: URL(fileURLWithPath: k.mount + "/device_tree"))
        try hostile.write(to: URL(fileURLWithPath: k.mount + "/instances/web/device_tree"))
        for command in ["dt", "dt web", "resources", "instances"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: mkdbgBinary())
            p.arguments = ["--root", k.root, "-e", command]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                + String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationReason == .exit, "\(command): killed by signal \(p.terminationStatus)")
            switch command {
            case "dt":
                #expect(text.contains("multikernel/device_tree: at offset 0x14: not a valid device tree blob: expected device tree version 17 or later, found 9"), "\(text)")
            case "dt web":
                #expect(text.contains("instances/web/device_tree: at offset 0x14: not a valid device tree blob: expected device tree version 17 or later"), "\(text)")
            case "instances":
                // db's tree is intact; the table still lists it.
                #expect(text.contains("db"), "\(text)")
            default:
                #expect(!text.isEmpty)
            }
        }
    }
}
