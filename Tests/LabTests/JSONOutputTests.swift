import Testing
import Foundation
import MKCommands

/// Every command's `--json` line parses and carries the fields docs/json.md promises.
@Suite(.serialized) struct JSONOutputTests {
    enum Kind { case string, number, bool, array, object, stringOrNull }

    static let schema: [(command: String, fields: [String: Kind])] = [
        ("p init_task.pid", ["history": .number, "type": .string, "value": .string, "address": .string, "integer": .number]),
        ("p init_task.comm", ["history": .number, "type": .string, "value": .string, "address": .string]),
        ("ptype struct list_head", ["name": .string, "text": .string, "size": .number, "members": .array]),
        ("whatis init_task", ["type": .string]),
        ("x/4xg &init_task", ["address": .string, "physical": .bool, "format": .string, "unit": .number,
                              "count": .number, "next": .string, "rows": .array]),
        ("sym schedule", ["address": .string, "name": .string, "offset": .number, "symbol_address": .string,
                          "size": .number, "kind": .string, "global": .bool, "letter": .string]),
        ("info image", ["image": .string, "format": .string, "facts": .object, "release": .stringOrNull,
                        "build_id": .stringOrNull, "vmlinux": .stringOrNull, "vmlinux_matches": .bool, "symbols": .stringOrNull,
                        "kaslr_offset": .string, "phys_base": .number, "page_table_levels": .number,
                        "physical_ranges": .array, "notes": .array, "vmcoreinfo_keys": .array, "problems": .array]),
        ("info vmcoreinfo", ["entries": .object]),
        ("info debuginfo", ["vmlinux": .string, "names": .number, "index": .string, "load_ms": .number]),
        ("info symbol schedule", ["output": .string]),
        ("info address init_task", ["output": .string]),
        ("info line schedule", ["output": .string]),
        ("echo hello", ["output": .string]),
        ("output init_task.comm[0]@4", ["type": .string, "value": .string, "address": .string]),
        ("info functions ^schedule$", ["regex": .string, "matches": .array, "count": .number, "truncated": .bool]),
        ("info variables ^init_task$", ["regex": .string, "matches": .array, "count": .number, "truncated": .bool]),
        ("info types ^list_head$", ["regex": .string, "matches": .array, "count": .number, "truncated": .bool]),
        ("help", ["commands": .array]),
        ("help x", ["name": .string, "summary": .string, "usage": .string, "aliases": .array, "examples": .array]),
        ("sys", ["release": .string, "nr_cpu_ids": .number, "uptime_seconds": .number, "hz": .number, "load_average": .array]),
        ("ps", ["tasks": .array, "warnings": .array]),
        ("task 1 comm pid", ["pid": .number, "task": .string, "members": .array]),
        ("list -H init_task.tasks -s task_struct.tasks,pid", ["kind": .string, "head": .string, "count": .number, "complete": .bool, "entries": .array, "warnings": .array]),
        ("per_cpu runqueues.nr_running 0", ["expression": .string, "type": .string, "cpus": .array]),
        ("mod", ["modules": .array, "warnings": .array]),
        ("bt 1", ["task": .string, "pid": .number, "comm": .string, "frames": .array, "notes": .array]),
        ("info registers", ["task": .string, "pid": .number, "frame": .number, "registers": .object]),
        ("info frame", ["task": .string, "pid": .number, "frame": .object, "cfa": .stringOrNull, "saved_pc": .stringOrNull,
                        "real_frame": .number, "saved_registers": .object]),
        ("bt -f 1", ["task": .string, "pid": .number, "frames": .array, "notes": .array, "stack_words": .array]),
        ("log -l 2", ["records": .array, "warnings": .array]),
        ("net -s 1", ["task": .string, "pid": .number, "comm": .string, "sockets": .array, "devices": .array, "warnings": .array]),
        ("ipcs", ["ipc_namespace": .string, "shm": .array, "sem": .array, "msg": .array, "warnings": .array]),
        ("swap", ["page_size": .number, "devices": .array, "warnings": .array]),
        ("set pagination off", ["pagination": .bool]),
        ("dis schedule 3", ["function": .stringOrNull, "module": .stringOrNull, "start": .string, "end": .string,
                            "flavor": .string, "instructions": .array]),
        ("set disassembly-flavor att", ["disassembly_flavor": .string]),
    ]

    /// The spec a command line runs: its command word, then subcommand words.
    static func spec(for line: String) throws -> CommandSpec {
        let words = line.split(separator: " ").map(String.init)
        let head = String(words[0].prefix { $0 != "/" })
        var spec = try #require(CommandRegistry.all.first { $0.matches(head) })
        for w in words.dropFirst() {
            guard let sub = spec.subcommand(named: w) else { break }
            spec = sub
        }
        return spec
    }

    /// JSONSerialization gives Swift Bools for true/false; numbers come as NSNumber.
    func isBoolean(_ value: Any?) -> Bool {
        guard let value else { return false }
        return String(describing: type(of: value)).contains("Bool")
    }

    func check(_ value: Any?, _ kind: Kind) -> Bool {
        switch kind {
        case .string: return value is String
        case .number: return value is NSNumber && !isBoolean(value)
        case .bool: return isBoolean(value)
        case .array: return value is [Any]
        case .object: return value is [String: Any]
        case .stringOrNull: return value is String || value is NSNull
        }
    }

    @Test func everyCommandMatchesItsSchema() throws {
        let fx = try LabFixture.load("running")
        var args = ["-c", fx.elf, "--json"]
        for entry in Self.schema { args += ["-e", entry.command] }
        args += ["-e", "p no_such_symbol_here"]
        let r = try runMkdbg(args)
        #expect(r.status != 0) // the last command fails on purpose
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == Self.schema.count + 1, "one line per command:\n\(r.out)")
        for (line, entry) in zip(lines, Self.schema) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(object["command"] as? String == entry.command)
            #expect(object["ok"] as? Bool == true, "\(entry.command): \(object["error"] ?? "")")
            #expect(object["name"] is String)
            for (field, kind) in entry.fields {
                #expect(check(object[field], kind), "\(entry.command): field \(field) is \(String(describing: object[field]))")
            }
            // Every field it emits is declared in its spec (and so documented: CommandSpecTests).
            let declared = Set(try Self.spec(for: entry.command).json + ["command", "name", "ok", "live"])
            #expect(Set(object.keys).isSubset(of: declared), "\(entry.command): undeclared \(Set(object.keys).subtracting(declared).sorted())")
        }
        let last = try #require(lines.last)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(error["ok"] as? Bool == false)
        #expect(((error["error"] as? [String: Any])?["message"] as? String)?.contains("no symbol \"no_such_symbol_here\"") == true)
    }

    /// A failure's `error` says what kind it is: an unknown symbol and an
    /// unreadable address differ, and each names what failed.
    @Test func errorsCarryTheirKind() throws {
        let fx = try LabFixture.load("running")
        let commands = ["p no_such_symbol_here", "x/xg 0xffffc9ffffff0000", "p 1 +", "frobnicate", "info address nope_nope",
                        "task 99999", "source /nonexistent/script", "sym", "p *(long *)0x1000"]
        let r = try runMkdbg(["-c", fx.elf, "--json"] + commands.flatMap { ["-e", $0] })
        let objects = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(objects.count == commands.count, "\(r.out)")
        let errors = objects.map { $0["error"] as? [String: Any] ?? [:] }
        #expect(objects.allSatisfy { $0["ok"] as? Bool == false })
        #expect(errors.map { $0["kind"] as? String ?? "?" } ==
                ["unknown_symbol", "unreadable_memory", "syntax", "unknown_command", "unknown_symbol",
                 "unknown_name", "io", "usage", "unreadable_memory"])
        #expect(errors[0]["symbol"] as? String == "no_such_symbol_here")
        #expect((errors[0]["message"] as? String)?.hasPrefix("no symbol \"no_such_symbol_here\"") == true)
        #expect(errors[1]["address"] as? String == "0xffffc9ffffff0000")
        #expect(errors[1]["space"] as? String == "virtual")
        #expect(["pml5", "pgd", "pud", "pmd", "pte"].contains(errors[1]["level"] as? String ?? ""), "\(errors[1])")
        #expect((errors[1]["message"] as? String)?.contains("cannot access memory at address 0xffffc9ffffff0000") == true)
        #expect(errors[2]["column"] as? Int == 4)
        #expect(errors[4]["symbol"] as? String == "nope_nope")
        #expect(errors[6]["path"] as? String == "/nonexistent/script")
        #expect(errors[7]["command"] as? String == "sym" && (errors[7]["usage"] as? String)?.hasPrefix("sym NAME") == true)
        #expect(errors[8]["address"] as? String == "0x1000")
        // The text output is the message, unchanged.
        let text = try runMkdbg(["-c", fx.elf, "-e", "p no_such_symbol_here"])
        #expect(text.err.hasPrefix("mkdbg: " + (errors[0]["message"] as? String ?? "?")))
    }

    /// A target on the command line that cannot be opened is a JSON object
    /// too: io for a missing file, image_format naming the file and offset.
    @Test func openFailuresSpeakJSON() throws {
        let dir = NSTemporaryDirectory() + "mkdbg-open-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a core at all, just text".utf8).write(to: URL(fileURLWithPath: dir + "/text.core"))
        for (path, kind) in [(dir + "/missing.core", "io"), (dir + "/text.core", "image_format")] {
            let r = try runMkdbg(["--json", "-c", path, "-e", "p 1"])
            #expect(r.status == 1)
            #expect(r.err.hasPrefix("mkdbg: \(path): "), "\(r.err)")
            let o = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out)")
            #expect(o["command"] as? String == "-c " + path && o["name"] as? String == "open" && o["ok"] as? Bool == false)
            let e = try #require(o["error"] as? [String: Any])
            #expect(e["kind"] as? String == kind, "\(e)")
            #expect(r.err == "mkdbg: " + (e["message"] as? String ?? "?") + "\n")
            if kind == "io" { #expect(e["path"] as? String == path) } else {
                #expect(e["file"] as? String == path && e["offset"] as? String == "0x0")
            }
        }
    }

    @Test func jsonValuesAgreeWithTheText() throws {
        let fx = try LabFixture.load("running")
        let j = try runMkdbg(["-c", fx.elf, "--json", "-e", "p sizeof(struct task_struct)", "-e", "info image"])
        let t = try runMkdbg(["-c", fx.elf, "-e", "p sizeof(struct task_struct)"])
        let lines = j.out.split(separator: "\n")
        let p = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(t.out == "$1 = \(p["value"] as? String ?? "?")\n")
        #expect((p["integer"] as? NSNumber)?.intValue == Int(p["value"] as? String ?? ""))
        let image = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(image["release"] as? String == fx.release)
        #expect(image["build_id"] as? String == fx.buildId)
        #expect(image["vmlinux_matches"] as? Bool == true)
    }
}
