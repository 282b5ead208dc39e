import Testing
import Foundation
import MKFormat
import MKSystem
@testable import MKDebugInfo

@Suite(.serialized) struct DebugInfoTests {
    @Test func ptypeOffsetsOfListHead() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-e", "ptype /o struct list_head"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.contains("/*      0      |       8 */    struct list_head *next;"))
        #expect(lines.contains("/*      8      |       8 */    struct list_head *prev;"))
        #expect(r.out.contains("/* total size (bytes):   16 */"))
    }

    @Test func sizesAgreeWithDwarfAndVmcoreInfo() throws {
        let fx = try LabFixture.load("running")
        let t = try fx.target()
        let d = try t.requireDebugInfo()
        let info = try #require(t.image.vmcoreInfo)
        let taskSize = try #require(d.findType("struct task_struct")?.byteSize)
        let r = try runMkdbg(["-c", fx.elf, "-e", "p sizeof(struct task_struct)", "-e", "p sizeof(struct page)",
                              "-e", "p offsetof(struct page, mapping)", "-e", "p sizeof(struct printk_info)"])
        #expect(r.status == 0, "stderr: \(r.err)")
        // The kernel's own record of its layout (VMCOREINFO) is an independent witness.
        #expect(r.out.contains("$1 = \(taskSize)\n"))
        #expect(r.out.contains("$2 = \(try #require(info.size("page")))\n"))
        #expect(r.out.contains("$3 = \(try #require(info.offset("page.mapping")))\n"))
        #expect(r.out.contains("$4 = \(try #require(info.size("printk_info")))\n"))
    }

    @Test(arguments: ["running", "panicked"])
    func initTaskCommIsTheRunTimeValue(_ name: String) throws {
        let fx = try LabFixture.load(name)
        // The vmlinux's static value is "swapper"; the running kernel renamed it.
        let r = try runMkdbg(["-c", fx.kdump, "-e", "p init_task.comm", "-e", "p init_uts_ns.name.release",
                              "-e", "p container_of(init_task.tasks.next, struct task_struct, tasks)->comm"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("$1 = \"swapper/0\\000\\000\\000\\000\\000\\000\"\n"))
        #expect(r.out.contains("$2 = \"\(fx.release)\", '\\000' <repeats \(64 - fx.release.utf8.count) times>"))
        #expect(r.out.contains("$3 = \"init\", '\\000' <repeats 11 times>"))
    }

    @Test func infoLineNamesTheFile() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf, "-e", "info line schedule", "-e", "info line panic",
                              "-e", "info address init_task", "-e", "info symbol schedule+16"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("of \"kernel/sched/core.c\""))
        #expect(r.out.contains("of \"kernel/panic.c\""))
        #expect(r.out.contains("Symbol \"init_task\" is static storage at address 0x"))
        #expect(r.out.contains("schedule + 16 in section .text"))
    }

    @Test func expressionsAndHistory() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["-c", fx.elf,
                              "-e", "p init_task.pid + 1", "-e", "p $ * 6", "-e", "p $$1 - 1",
                              "-e", "p/x (unsigned char)-1", "-e", "p sizeof(long) << 2",
                              "-e", "p (init_task.tasks.next == init_task.tasks.next->prev->next)",
                              "-e", "p/x &init_task == (struct task_struct *)&init_task",
                              "-e", "whatis init_task.comm", "-e", "ptype pid_t", "-e", "p PIDTYPE_SID",
                              "-e", "p 7 / 2 * 2 + 7 % 2", "-e", "p -5 >> 1", "-e", "p 1 ? 10 : 20"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let expected = ["$1 = 1", "$2 = 6", "$3 = 0", "$4 = 0xff", "$5 = 32", "$6 = 1", "$7 = 0x1",
                        "type = char [16]", "type = int", "$8 = PIDTYPE_SID", "$9 = 7", "$10 = -3", "$11 = 10"]
        for line in expected { #expect(r.out.split(separator: "\n").contains(Substring(line)), "missing \(line) in\n\(r.out)") }
    }

    @Test func badExpressionsGiveClearErrors() throws {
        let fx = try LabFixture.load("running")
        func err(_ command: String) throws -> String {
            let r = try runMkdbg(["-c", fx.elf, "-e", command])
            #expect(r.status != 0, "\(command) should fail")
            return r.err
        }
        let syntax = try err("p (init_task.pid +")
        #expect(syntax.contains("syntax error at column"))
        #expect(syntax.contains("(init_task.pid +\n"))
        let member = try err("p init_task.commm")
        #expect(member.contains("struct task_struct has no member named \"commm\""))
        #expect(member.contains("did you mean \"comm\""))
        let symbol = try err("p init_tsak")
        #expect(symbol.contains("no symbol \"init_tsak\""))
        #expect(symbol.contains("\"init_task\""))
        let type = try err("p sizeof(struct task_strct)")
        #expect(type.contains("no struct type named \"task_strct\""))
        #expect(type.contains("task_struct"))
        let deref = try err("p *init_task.pid")
        #expect(deref.contains("not a pointer"))
        let arrow = try err("p init_task->pid")
        #expect(arrow.contains("not a pointer"))
        let write = try err("p init_task.pid = 5")
        #expect(write.contains("assignment is not supported"))
        let unreadable = try err("p *(struct task_struct *)0xffffc9ffffff0000")
        #expect(unreadable.contains("0xffffc9ffffff0000"))
        let arith = try err("x/4xb init_uts_ns+1")
        #expect(arith.contains("not an integer"))
    }

    @Test func damagedIndexIsDetectedAndRebuilt() throws {
        let fx = try LabFixture.load("running")
        let v = try Vmlinux(path: fx.vmlinux)
        let dir = NSTemporaryDirectory() + "mkdbg-index-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try DebugInfo(vmlinux: v, cacheDirectory: dir)
        #expect(first.indexSource.contains("built"))
        let second = try DebugInfo(vmlinux: v, cacheDirectory: dir)
        #expect(second.indexSource.contains("loaded"))
        #expect(second.index.count == first.index.count)
        #expect(second.index.lookup("task_struct", .structure) == first.index.lookup("task_struct", .structure))
        // Flip one byte in the middle: the checksum catches it and the index is rebuilt.
        let path = dir + "/\(try #require(v.buildId)).mkidx"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count / 2] ^= 0xff
        try data.write(to: URL(fileURLWithPath: path))
        let third = try DebugInfo(vmlinux: v, cacheDirectory: dir)
        #expect(third.indexSource.contains("built"))
        #expect(third.index.count == first.index.count)
        // A truncated file too.
        try Data(data.prefix(100)).write(to: URL(fileURLWithPath: path))
        #expect(try DebugInfo(vmlinux: v, cacheDirectory: dir).indexSource.contains("built"))
        #expect(throws: IndexFileError.self) {
            try IndexFile.read(path: path, buildId: "0000", vmlinuxSize: v.fileSize)
        }
    }

    /// A worker whose libdw handle does not open leaves nothing out: its
    /// units are scanned on the main handle, and the index is the one a
    /// serial scan builds.
    @Test func failedIndexWorkersLoseNoNames() throws {
        let fx = try LabFixture.load("running")
        let v = try Vmlinux(path: fx.vmlinux)
        let dwarf = try DwarfFile(elf: v.file)
        let serial = try DebugInfo.build(vmlinux: v, dwarf: dwarf, workers: 1)
        final class Calls: @unchecked Sendable { var count = 0 }
        let calls = Calls()
        let lock = Mutex()
        let failing = try DebugInfo.build(vmlinux: v, dwarf: dwarf, workers: 3) { _ in
            lock.withLock { calls.count += 1 }
            return nil
        }
        #expect(calls.count == 2, "workers 1 and 2 open their own handles")
        #expect(serial.table.count > 10_000)
        #expect(failing.table.count == serial.table.count)
        #expect(failing.table == serial.table)
        #expect(failing.lookup("task_struct", .structure) != nil)
    }

    /// The own DIE scanner must write the very index libdw's walk writes:
    /// same names, kinds and DIE offsets, byte for byte (x86-64 and arm64 kernels).
    @Test(arguments: ["x86-64", "arm64"])
    func dieScannerWritesLibdwsIndex(_ arch: String) throws {
        let fx = try LabFixture.load("running", root: arch == "arm64" ? LabFixture.arm64Root : LabFixture.root)
        let v = try Vmlinux(path: fx.vmlinux)
        let dwarf = try DwarfFile(elf: v.file)
        let viaLibdw = IndexFile.encode(try DebugInfo.build(vmlinux: v, dwarf: dwarf), buildId: fx.buildId, vmlinuxSize: v.fileSize)
        for workers in [1, 2, 3] {
            let scanned = try DwarfIndexScan.build(v.file, workers: workers)
            let viaScanner = IndexFile.encode(scanned, buildId: fx.buildId, vmlinuxSize: v.fileSize)
            let a = try IndexFile.validate(viaScanner, path: "scanner", buildId: fx.buildId, vmlinuxSize: v.fileSize)
            let b = try IndexFile.validate(viaLibdw, path: "libdw", buildId: fx.buildId, vmlinuxSize: v.fileSize)
            #expect(a.count == b.count, "\(workers) workers")
            #expect(a.count > 50_000)
            if viaScanner != viaLibdw {
                // Name the first entry that differs, to make a failure actionable.
                let i = (0..<min(a.count, b.count)).first { a.name($0) != b.name($0) || a.kind($0) != b.kind($0) || a.offset($0) != b.offset($0) }
                func describe(_ x: NameIndex, _ j: Int) -> String {
                    "\(x.name(j)) \(x.kind(j).map { $0.label } ?? "?") 0x\(String(x.offset(j), radix: 16))"
                }
                let detail = i.map { describe(a, $0) + " vs " + describe(b, $0) } ?? "past the shorter one"
                Issue.record("\(workers) workers: indexes differ: \(detail)")
            }
            #expect(a.lookup("task_struct", .structure) != nil)
            #expect(a.lookup("init_task", .variable) != nil)
        }
    }

    /// The scanner on programs gcc builds here, in DWARF 4 and 5 (other forms
    /// than the kernel's): the libdw walk's index, and the names the source defines.
    @Test(arguments: ["4", "5"])
    func dieScannerOnGccPrograms(_ version: String) throws {
        let dir = NSTemporaryDirectory() + "mkdbg-scan-\(version)-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = """
            struct list { struct list *next; int v : 3; };
            enum colour { RED, GREEN = 5 };
            union u { int i; char c[4]; };
            typedef unsigned long ulong;
            extern int declared;
            int defined = 3;
            static ulong counter;
            static inline int twice(int x) { return 2 * x; }
            int use(struct list *l, enum colour c, union u *p) { counter++; return twice(l->v) + c + p->i + defined + declared; }
            int declared = 1;
            int main(void) { struct list l = {0, 1}; union u x = {1}; return use(&l, GREEN, &x); }

            """
        try source.write(toFile: dir + "/t.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-g", "-gdwarf-\(version)", "-O1", "-o", dir + "/t", dir + "/t.c"]
        try cc.run()
        cc.waitUntilExit()
        #expect(cc.terminationStatus == 0)
        let v = try Vmlinux(path: dir + "/t")
        let viaLibdw = IndexFile.encode(try DebugInfo.build(vmlinux: v, dwarf: try DwarfFile(elf: v.file)), buildId: "t", vmlinuxSize: v.fileSize)
        let viaScanner = IndexFile.encode(try DwarfIndexScan.build(v.file), buildId: "t", vmlinuxSize: v.fileSize)
        #expect(viaScanner == viaLibdw)
        let index = try IndexFile.validate(viaScanner, path: "scanner", buildId: "t", vmlinuxSize: v.fileSize)
        let expected: [(String, IndexKind)] = [("list", .structure), ("colour", .enumeration), ("RED", .enumerator),
                                               ("GREEN", .enumerator), ("u", .union), ("ulong", .typedef),
                                               ("defined", .variable), ("declared", .variable), ("counter", .variable),
                                               ("use", .function), ("main", .function), ("int", .base)]
        for (name, kind) in expected { #expect(index.lookup(name, kind) != nil, "\(name) as \(kind.label)") }
    }

    @Test func missingDebugInfoIsAClearError() throws {
        let fx = try LabFixture.load("running")
        let dir = NSTemporaryDirectory() + "mkdbg-nodwarf-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "int main(void){return 0;}\n".write(toFile: dir + "/k.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-g0", "-no-pie", "-o", dir + "/vmlinux", dir + "/k.c"]
        try cc.run()
        cc.waitUntilExit()
        let r = try runMkdbg(["-c", fx.elf, "-s", dir + "/vmlinux", "--ignore-mismatch", "-e", "p init_task.comm"])
        #expect(r.status != 0)
        #expect(r.err.contains("no DWARF debug info"))
    }
}
