import Foundation
import Testing
import MKFormat
import MKKernel
@testable import MKCommands

/// `--json` errors name what went wrong precisely, on the panicked dump:
/// each failure has its own kind and the fields naming what failed, and the
/// text output is the same message.
@Suite struct ErrorKindTests {
    struct Case {
        var command: String
        var kind: String
        var fields: [String: String]
    }

    static let cases: [Case] = [
        Case(command: "p no_such_symbol_here", kind: "unknown_symbol", fields: ["symbol": "no_such_symbol_here"]),
        Case(command: "x/xg 0x10", kind: "unreadable_memory", fields: ["address": "0x10", "space": "virtual", "level": "pgd", "entry": "0x0"]),
        Case(command: "x/xg 0x8000000000000000", kind: "unreadable_memory", fields: ["space": "virtual", "level": "canonical"]),
        Case(command: "x/q init_task", kind: "invalid_argument", fields: ["argument": "/q"]),
        Case(command: "x/0x init_task", kind: "out_of_range", fields: ["value": "0", "minimum": "1", "maximum": "1048576"]),
        // The panicked kernel has two CPU ids.
        Case(command: "per_cpu runqueues 99", kind: "out_of_range", fields: ["value": "99", "minimum": "0", "maximum": "1"]),
        Case(command: "per_cpu init_task", kind: "invalid_argument", fields: ["argument": "init_task"]),
        Case(command: "list -H panic", kind: "wrong_type", fields: ["expression": "panic", "type": "void (const char *, ...)"]),
        Case(command: "list -s task_struct.pid init_task.tasks", kind: "wrong_type",
             fields: ["expression": "struct task_struct.pid", "type": "pid_t"]),
        Case(command: "per_cpu 1+1", kind: "not_in_memory", fields: ["expression": "1+1"]),
        Case(command: "dump memory /tmp 0 10", kind: "io", fields: ["path": "/tmp"]),
        Case(command: "shell exit 3", kind: "exit_status", fields: ["command": "exit 3", "status": "3"]),
        Case(command: "sym 'abc", kind: "syntax", fields: ["column": "1"]),
        Case(command: "p 1 +", kind: "syntax", fields: ["column": "4"]),
        Case(command: "set print elements many", kind: "invalid_argument", fields: ["argument": "many"]),
        Case(command: "bt 0x100000000", kind: "invalid_argument", fields: ["argument": "0x100000000"]),
        Case(command: "info line 0x10", kind: "debug_info", fields: [:]),
    ]

    @Test func kindsAndFields() throws {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["-c", fx.elf, "--json"] + Self.cases.flatMap { ["-e", $0.command] })
        let objects = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(objects.count == Self.cases.count, "\(r.out)")
        for (c, o) in zip(Self.cases, objects) {
            #expect(o["ok"] as? Bool == false, "\(c.command): \(o)")
            let e = o["error"] as? [String: Any] ?? [:]
            #expect(e["kind"] as? String == c.kind, "\(c.command): \(e)")
            for (name, want) in c.fields {
                #expect(e[name].map { "\($0)" } == want, "\(c.command): \(name) in \(e)")
            }
            // The text output prints the same message.
            let text = try runMkdbg(["-c", fx.elf, "-e", c.command])
            #expect(text.err.hasPrefix("mkdbg: " + (e["message"] as? String ?? "?")), "\(c.command): \(text.err)")
        }
    }

    /// An unknown symbol and an unreadable address differ, and the text is unchanged.
    @Test func unknownSymbolIsNotUnreadableMemory() throws {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["-c", fx.elf, "--json", "-e", "p nosuch_symbol", "-e", "p *(long *)0xffffc90000000000"])
        let objects = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(objects.count == 2)
        let kinds = objects.map { ($0["error"] as? [String: Any])?["kind"] as? String }
        #expect(kinds == ["unknown_symbol", "unreadable_memory"])
        let e = try #require(objects[1]["error"] as? [String: Any])
        #expect(e["address"] as? String == "0xffffc90000000000")
        #expect(["pgd", "pud", "pmd", "pte"].contains(e["level"] as? String ?? ""), "\(e)")
    }

    /// A direct-map address over a hole of the dump: the virtual address, how it
    /// was translated and the physical address the image does not hold.
    @Test func holeBehindTheDirectMap() throws {
        let fx = try LabFixture.load("panicked")
        let base = try runMkdbg(["-c", fx.elf, "-e", "output/x page_offset_base"]).out
        let offset = try #require(UInt64(base.dropFirst(2), radix: 16), "\(base)")
        // 0x20000000-0xfffc0000 is a hole of this dump (info image).
        let address = "0x" + String(offset + 0x3000_0000, radix: 16)
        let r = try runMkdbg(["-c", fx.elf, "--json", "-e", "x/xg \(address)"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], Comment(rawValue: r.out))
        let e = try #require(o["error"] as? [String: Any])
        #expect(e["kind"] as? String == "unreadable_memory" && e["address"] as? String == address)
        #expect(e["level"] as? String == "image" && e["via"] as? String == "direct map" && e["physical_address"] as? String == "0x30000000", "\(e)")
    }

    /// `bt -a`'s and `per_cpu`'s per-CPU failures are error objects of the
    /// same shape as a failed command's (the CPU not in the dump, a copy unreadable).
    @Test func partialFailuresAreErrorObjects() throws {
        let noCPU = ErrorReport(BacktraceError.noCPU(7)).json.serialized
        #expect(noCPU == #"{"kind":"target_state","message":"CPU 7 is not in this dump","cpu":7}"#)
        let unreadable = ErrorReport(MemoryError.pageExcluded(address: 0x1000, image: "x.core")).json.serialized
        #expect(unreadable == #"{"kind":"unreadable_memory","message":"cannot read physical address 0x1000: page excluded from x.core","address":"0x1000","space":"physical","level":"excluded"}"#)
        let wrapped = ErrorReport(CommandError.failed("log: prb is NULL", cause: KernelError.implausible(
            what: "prb", value: 0, address: nil, message: "prb is NULL"))).json.serialized
        #expect(wrapped == #"{"kind":"bad_kernel_data","message":"log: prb is NULL","what":"prb","value":0}"#)
    }
}
