import Foundation
import Testing
import MKFormat
import MKMemory

/// Runs the built mkdbg, killed after `timeout` seconds: a hang fails the
/// test instead of stalling the suite.
func runBounded(_ arguments: [String], in directory: String? = nil, timeout: TimeInterval = 120) throws -> BoundedRun {
    try BoundedRun.mkdbg(arguments, deadline: timeout, in: directory)
}

/// Issue #16: inputs found by fuzzing that trapped, hung or wrote files.
/// Each must end by itself, with a clear message, in bounded memory.
@Suite(.serialized) struct HostileInputTests {
    func check(_ r: BoundedRun, _ what: String) {
        #expect(!r.timedOut, "\(what): still running at the timeout")
        #expect(r.exited, "\(what): ended by signal \((r.status ?? 0) - 128); stderr: \(r.err.suffix(500))")
    }

    @Test func pointerDifferenceOfHugeElements() throws {
        let fx = try LabFixture.load("running")
        let r = try runBounded(["-c", fx.elf,
                                "-e", "p (char (*)[0xffffffffffffffff])0x8000000000000000 - (char (*)[0xffffffffffffffff])0",
                                "-e", "p (char (*)[0x8000000000000000])0x8000000000000000 - (char (*)[0x8000000000000000])0",
                                "-e", "p (char (*)[0x8000000000000000])0 - (char (*)[0x8000000000000000])0x8000000000000000",
                                "-e", "p (long *)0x100 - (long *)0x80",
                                "-e", "p (long *)0x80 - (long *)0x100"])
        check(r, "pointer difference")
        #expect(r.status == 0, "stderr: \(r.err)")
        // -2^63 / (2^64 - 1) truncates to 0; -2^63 / 2^63 is exactly -1, and 2^63 wraps to -2^63.
        #expect(r.out == "$1 = 0\n$2 = -1\n$3 = -1\n$4 = 16\n$5 = -16\n")
    }

    @Test func integerOperationsCUndefines() throws {
        let fx = try LabFixture.load("running")
        func fails(_ expression: String, _ message: String) throws {
            let r = try runBounded(["-c", fx.elf, "-e", "p " + expression])
            check(r, expression)
            #expect(r.status == 1, "\(expression): \(r.out)")
            #expect(r.err.contains(message), "\(expression): \(r.err)")
        }
        try fails("(-2147483647 - 1) / -1", "-2147483648 / -1 overflows int")
        try fails("(-9223372036854775807L - 1) / -1", "-9223372036854775808 / -1 overflows long")
        try fails("1 << 32", "shift count 32 is not below the width of int (32 bits)")
        try fails("1UL << 64", "shift count 64 is not below the width of unsigned long (64 bits)")
        try fails("1 >> -1", "shift count -1 is negative")
        try fails("1 << -1", "shift count -1 is negative")
        try fails("1 << 40L", "shift count 40 is not below the width of int")
        try fails("init_task.pid / 0", "division by zero")
        // Defined (or wrapped as gdb and drgn wrap them): still values.
        let r = try runBounded(["-c", fx.elf, "-e", "p (-2147483647 - 1) % -1", "-e", "p 0x7fffffff + 1", "-e", "p 0xffffffffU + 1",
                                "-e", "p -1UL / 2", "-e", "p 1L << 40", "-e", "p -5 >> 1", "-e", "p (char)200 << 24"])
        check(r, "defined arithmetic")
        #expect(r.out == "$1 = 0\n$2 = -2147483648\n$3 = 0\n$4 = 9223372036854775807\n$5 = 1099511627776\n$6 = -3\n$7 = -939524096\n",
                "stderr: \(r.err)")
    }

    @Test func overflowingTypeSizes() throws {
        let fx = try LabFixture.load("running")
        let r = try runBounded(["-c", fx.elf, "-e", "p sizeof(char[0xffffffffffffffff][2])",
                                "-e", "p sizeof(char[0x8000000000000000][2])",
                                "-e", "p sizeof(int[0x4000000000000000])",
                                "-e", "p sizeof(char[0x7fffffffffffffff][2])",
                                "-e", "p sizeof(char[0xffffffffffffffff])",
                                "-e", "p offsetof(struct task_struct, comm[0x7fffffffffffffff]) - offsetof(struct task_struct, comm)",
                                "-e", "p offsetof(struct task_struct, comm[-1000000])"])
        check(r, "sizes")
        #expect(r.status == 1)
        #expect(r.out == "$1 = 18446744073709551614\n$2 = 18446744073709551615\n$3 = 9223372036854775807\n", "stderr: \(r.err)")
        let errors = r.err.components(separatedBy: "mkdbg: ").filter { !$0.isEmpty }
        #expect(errors.count == 4, "\(r.err)")
        guard errors.count == 4 else { return }
        #expect(errors[0].hasPrefix("char [18446744073709551615][2] is too large: its size in bytes does not fit 64 bits\n"))
        #expect(errors[1].hasPrefix("char [9223372036854775808][2] is too large"))
        #expect(errors[2].hasPrefix("int [4611686018427387904] is too large"))
        #expect(errors[3].hasPrefix("offset of element -1000000 is negative"))
    }

    @Test func deepAndHugeArraysPrintWithinTheBudget() throws {
        let fx = try LabFixture.load("running")
        let deep = "char" + String(repeating: "[2]", count: 63)
        let r = try runBounded(["-c", fx.elf, "-e", "p (\(deep))init_task", "-e", "p (char[200][200][200])init_task",
                                "-e", "set print output-limit 5000", "-e", "p (char[200][200][200])init_task", "-e", "p init_task.pid"])
        check(r, "huge arrays")
        #expect(r.status == 0, "stderr: \(r.err)")
        let note = "<output truncated: the value's text is longer than"
        #expect(r.out.components(separatedBy: note).count == 4, "\(r.out.suffix(300))")
        #expect(r.out.hasPrefix("$1 = {{{{"))
        // Two values at most 1 MiB and one at most 5000 characters, with a little slack.
        #expect(r.out.utf8.count < 2 * (1 << 20) + 5000 + 4096)
        #expect(r.out.hasSuffix("(set print output-limit)>\n$4 = 0\n"))
    }

    @Test func printSettings() throws {
        let fx = try LabFixture.load("running")
        let r = try runBounded(["-c", fx.elf, "-e", "p init_uts_ns.name.sysname", "-e", "set print repeats unlimited",
                                "-e", "p init_uts_ns.name.sysname", "-e", "set print repeats 3", "-e", "p init_task.comm",
                                "-e", "set print elements 4", "-e", "p init_task.comm", "-e", "p init_task.cpus_mask.bits",
                                "-e", "set print", "-e", "set print elements unlimited", "-e", "set print elements",
                                "-e", "set print elements -1", "-e", "set print output-limit 0", "-e", "set print colour 3"])
        check(r, "settings")
        #expect(r.status == 1)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 9, "\(r.out)")
        guard lines.count == 9 else { return }
        #expect(lines[0] == "$1 = \"Linux\", '\\000' <repeats 59 times>")
        #expect(lines[1] == "$2 = \"Linux" + String(repeating: "\\000", count: 59) + "\"")
        #expect(lines[2] == "$3 = \"swapper/0\", '\\000' <repeats 6 times>")
        #expect(lines[3] == "$4 = \"swap\"...")
        // One element, then a run that counts as 10 of the 4: the run still shows whole.
        #expect(lines[4] == "$5 = {1, 18446744073709551615 <repeats 127 times>}")
        #expect(Array(lines[5...7]) == ["print elements 4", "print repeats 3", "print output-limit 1048576"])
        #expect(lines[8] == "print elements unlimited")
        #expect(r.err.contains("set print elements: \"-1\" is not a positive number or unlimited"))
        #expect(r.err.contains("set print output-limit: \"0\" is not a positive number"))
        #expect(r.err.contains("unknown print setting \"colour\""))
    }

    @Test func repeatsSpanPastTheElementLimit() throws {
        let fx = try LabFixture.load("running")
        // empty_zero_page is a page of zeros.
        let r = try runBounded(["-c", fx.elf, "-e", "p/x *(unsigned long (*)[512])&empty_zero_page",
                                "-e", "p *(char (*)[11])&empty_zero_page", "-e", "p *(char (*)[12])&empty_zero_page"])
        check(r, "repeats")
        #expect(r.out == "$1 = {0x0 <repeats 512 times>}\n$2 = \"" + String(repeating: "\\000", count: 10) + "\"\n$3 = '\\000' <repeats 11 times>\n",
                "stderr: \(r.err)")
    }

    @Test func longLinesEndQuickly() throws {
        let fx = try LabFixture.load("running")
        let dir = NSTemporaryDirectory() + "mkdbg-long-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 40 KB of `+`, 64 KB of `>` (each a possible redirect), 400 KB: copying the
        // line once per space, as before, takes minutes for the last two.
        let sum = "p " + Array(repeating: "1", count: 10_000).joined(separator: " + ")
        let redirects = "p " + Array(repeating: "1", count: 16_000).joined(separator: " > ")
        let huge = "p " + Array(repeating: "1", count: 100_000).joined(separator: " > ")
        try (sum + "\n" + redirects + "\n" + huge + "\necho done\n").write(toFile: dir + "/lines.mkdbg", atomically: true, encoding: .utf8)
        let r = try runBounded(["-c", fx.elf, "-x", dir + "/lines.mkdbg"], in: dir, timeout: 90)
        check(r, "long lines")
        #expect(r.status == 1)
        #expect(r.out == "done\n")
        #expect(r.err.contains("expression is too long (39997 bytes; the limit is 16384)"))
        #expect(r.err.contains("command line is 399999 bytes; the limit is 65536"))
        // The caret line shows a window, not the whole 40 KB.
        #expect(r.err.utf8.count < 4096, "\(r.err.utf8.count) bytes of errors")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["lines.mkdbg"])
    }

    @Test func failedComparisonsWriteNoFile() throws {
        let fx = try LabFixture.load("running")
        let dir = NSTemporaryDirectory() + "mkdbg-redirect-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "keep".write(toFile: dir + "/jiffies_typo", atomically: true, encoding: .utf8)
        let r = try runBounded(["-c", fx.elf, "-e", "p 1 > nosuch", "-e", "p init_task.pid > jiffies_typo",
                                "-e", "p nosuch > other", "-e", "p init_task.pid > ./written",
                                "-e", "p init_task.pid > out.txt", "-e", "p 2 > 1", "-e", "p 1 >> -1", "-e", "p 1 >> (-1)",
                                "-e", "p 2 >> 1"], in: dir)
        check(r, "redirects")
        #expect(r.status == 1)
        #expect(r.out == "$3 = 1\n$4 = 1\n", "stderr: \(r.err)")
        #expect(r.err.contains("no symbol \"nosuch\""))
        #expect(r.err.contains("to write the output to a file, give a path: > ./nosuch"))
        #expect(r.err.contains("no symbol \"jiffies_typo\""))
        #expect(r.err.contains("(\">>\" was read as C's shift; to write the output to a file, give a path: >> ./-1)"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(files == ["jiffies_typo", "out.txt", "written"])
        #expect(try String(contentsOfFile: dir + "/jiffies_typo", encoding: .utf8) == "keep")
        #expect(try String(contentsOfFile: dir + "/written", encoding: .utf8) == "$1 = 0\n")
        #expect(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8) == "$2 = 0\n")
    }

    @Test func vmcoreInfoValuesThatDoNotParse() throws {
        let dir = NSTemporaryDirectory() + "mkdbg-vmcoreinfo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func core(_ name: String, _ text: String) throws -> String {
            let writer = try ElfCoreWriter(notes: [ElfNote(name: "VMCOREINFO", type: 0, descriptor: Array(text.utf8), offset: 0)],
                                           loads: [.init(physicalAddress: 0, size: 4096)])
            let layout = writer.layout()
            let file = layout.head + [UInt8](repeating: 0, count: Int(layout.fileSize) - layout.head.count)
            let path = dir + "/" + name
            try Data(file).write(to: URL(fileURLWithPath: path))
            return path
        }
        let rest = "NUMBER(phys_base)=0\nSYMBOL(init_top_pgt)=ffffffff8200a000\n"
        let text = "OSRELEASE=6.1.0-test\nPAGESIZE=3000\nKERNELOFFSET=not-hex\n" + rest
        // A KASLR offset that does not parse: the image cannot be read, and the error quotes it.
        let offset = try runBounded(["-c", try core("offset.elf", text), "-e", "info image"])
        check(offset, "bad KERNELOFFSET")
        #expect(offset.status != 0)
        #expect(offset.err.contains("offset.elf: VMCOREINFO KERNELOFFSET=\"not-hex\" does not parse as a hex number"), "\(offset.err)")
        #expect(!offset.err.contains("has no KERNELOFFSET"))
        // A page size that is not one: info image shows it and names the problem.
        let page = try runBounded(["-c", try core("page.elf", "OSRELEASE=6.1.0-test\nPAGESIZE=3000\nKERNELOFFSET=0\n" + rest),
                                   "-e", "info image"])
        check(page, "bad PAGESIZE")
        #expect(page.out.contains("page size         invalid (PAGESIZE=3000)"), "\(page.out) \(page.err)")
        #expect(page.out.contains("! VMCOREINFO PAGESIZE=3000 is not a power of two"))
        let good = try runBounded(["-c", try core("good.elf", "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nKERNELOFFSET=0\n" + rest),
                                   "-e", "info image"])
        #expect(good.out.contains("page size         4096 bytes"), "\(good.out) \(good.err)")
        #expect(!good.out.contains("PAGESIZE=4096 is"))

        let info = VmcoreInfo(text: text)
        #expect(throws: LayoutError.inconsistent("VMCOREINFO KERNELOFFSET=\"not-hex\" does not parse as a hex number; cannot locate the kernel in memory",
                                                  image: "t")) { try X86_64Layout(vmcoreInfo: info, imagePath: "t") }
        #expect(throws: LayoutError.missingKey("KERNELOFFSET", image: "t")) {
            try X86_64Layout(vmcoreInfo: VmcoreInfo(text: "NUMBER(phys_base)=0\n"), imagePath: "t")
        }
    }
}
