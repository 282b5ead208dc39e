import Foundation

/// A kernfs tree on disk, as the multikernel kernel lays it out, built by
/// the tests: DTBs compiled by the real dtc, text files in upstream formats.
final class FakeKernfs {
    let root: String
    var mount: String { root + "/sys/fs/multikernel" }

    init() throws {
        root = NSTemporaryDirectory() + "mkdbg-kernfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/sys/fs/multikernel/instances", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ relative: String, _ text: String) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Compiles DTS with dtc into `relative`.
    func dtb(_ relative: String, _ dts: String) throws {
        let src = root + "/" + relative + ".dts"
        try write(relative + ".dts", dts)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", root + "/" + relative, src]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        try FileManager.default.removeItem(atPath: src)
    }

    func dtsOf(_ relative: String) throws -> String {
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dtc", "-q", "-I", "dtb", "-O", "dts", root + "/" + relative]
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// A standard two-instance machine: web (active, CPUs 2-3) and db
    /// (active, CPUs 4-5), a pool of CPUs 2-7, and one spare `ready` instance.
    static func standard() throws -> FakeKernfs {
        let k = try FakeKernfs()
        try k.dtb("sys/fs/multikernel/device_tree", """
            /dts-v1/;
            / {
                compatible = "multikernel-v1";
                #address-cells = <2>;
                #size-cells = <2>;
                id = <0>;
                resources {
                    cpus = /bits/ 64 <2 3 4 5 6 7>;
                    cpus-available = /bits/ 64 <6 7>;
                    memory@100000000 {
                        device_type = "memory";
                        reg = /bits/ 64 <0x100000000 0x80000000>;
                        numa-node-id = <0>;
                    };
                };
            };
            """)
        for (name, id, cpus, base) in [("web", 1, "2 3", "0x100000000"), ("db", 2, "4 5", "0x120000000")] {
            try k.dtb("sys/fs/multikernel/instances/\(name)/device_tree", """
                /dts-v1/;
                / {
                    compatible = "multikernel-v1";
                    model = "\(name)";
                    #address-cells = <2>;
                    #size-cells = <2>;
                    id = <\(id)>;
                    resources {
                        memory-base = /bits/ 64 <\(base)>;
                        memory-bytes = /bits/ 64 <0x20000000>;
                        cpus = /bits/ 64 <\(cpus)>;
                        devices {
                            eth\(id) { device-type = "platform"; device-name = "virtio-net"; };
                        };
                    };
                    aliases { net0 = "/resources/devices/eth\(id)"; };
                };
                """)
            try k.write("sys/fs/multikernel/instances/\(name)/id", "\(id)\n")
            try k.write("sys/fs/multikernel/instances/\(name)/status", "active\n")
            try k.write("sys/fs/multikernel/instances/\(name)/freeze", "0\n")
            try k.write("sys/fs/multikernel/instances/\(name)/events", "frozen 0\n")
        }
        try k.dtb("sys/fs/multikernel/instances/spare/device_tree", """
            /dts-v1/;
            / { compatible = "multikernel-v1"; model = "spare"; id = <3>; resources { cpus = /bits/ 64 <6>; }; };
            """)
        try k.write("sys/fs/multikernel/instances/spare/id", "3\n")
        try k.write("sys/fs/multikernel/instances/spare/status", "ready\n")
        try k.write("proc/iomem", """
            00000000-00000fff : Reserved
            00001000-0009ffff : System RAM
            100000000-17fffffff : Multikernel Memory Pool
              100000000-11fffffff : mk-instance-1-web-region-0
              120000000-13fffffff : mk-instance-2-db-region-0

            """)
        try k.write("proc/kimage", """
            MK_ID  Type        Start Address   Segments  Mode  Cmdline
            -----  ----------  --------------  --------  ----  -------
                1  multikernel  0x000101000000         4  file  "console=ttyS0 role=web"
                2  multikernel  0x000121000000         4  file  "console=ttyS0 role=db"

            """)
        return k
    }

    /// Plays the kernel's side of freeze/events: `events` follows `freeze`.
    func startFreezeMirror(_ names: [String]) -> () -> Void {
        let stop = NSLock()
        var running = true
        let thread = Thread { [mount] in
            while true {
                stop.lock(); let go = running; stop.unlock()
                if !go { break }
                for n in names {
                    let dir = mount + "/instances/" + n
                    if let f = try? String(contentsOfFile: dir + "/freeze", encoding: .utf8) {
                        let want = f.hasPrefix("1") ? "frozen 1\n" : "frozen 0\n"
                        if (try? String(contentsOfFile: dir + "/events", encoding: .utf8)) != want {
                            try? want.write(toFile: dir + "/events", atomically: true, encoding: .utf8)
                        }
                    }
                }
                usleep(10_000)
            }
        }
        thread.start()
        return { stop.lock(); running = false; stop.unlock() }
    }
}
