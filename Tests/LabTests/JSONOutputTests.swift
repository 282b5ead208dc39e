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
                        "build_id": .stringOrNull, "vmlinux": .stringOrNull, "vmlinux_matches": .bool,
                        "kaslr_offset": .string, "phys_base": .number, "page_table_levels": .number,
                        "physical_ranges": .array, "notes": .array, "vmcoreinfo_keys": .array, "problems": .array]),
        ("info vmcoreinfo", ["entries": .object]),
        ("info debuginfo", ["vmlinux": .string, "names": .number, "index": .string, "load_ms": .number]),
        ("info symbol schedule", ["output": .string]),
        ("info address init_task", ["output": .string]),
        ("info line schedule", ["output": .string]),
        ("echo hello", ["output": .string]),
        ("help", ["commands": .array]),
        ("help x", ["name": .string, "summary": .string, "usage": .string, "aliases": .array, "examples": .array]),
        ("sys", ["release": .string, "nr_cpu_ids": .number, "uptime_seconds": .number, "hz": .number, "load_average": .array]),
        ("ps", ["tasks": .array, "warnings": .array]),
        ("task 1 comm pid", ["pid": .number, "task": .string, "members": .array]),
        ("list -H init_task.tasks -s task_struct.tasks,pid", ["kind": .string, "head": .string, "count": .number, "complete": .bool, "entries": .array, "warnings": .array]),
        ("per_cpu current_task 0", ["expression": .string, "type": .string, "cpus": .array]),
        ("mod", ["modules": .array, "warnings": .array]),
        ("bt 1", ["task": .string, "pid": .number, "comm": .string, "frames": .array, "notes": .array]),
        ("log -l 2", ["records": .array, "warnings": .array]),
        ("set pagination off", ["pagination": .bool]),
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
        #expect((error["error"] as? String)?.contains("no symbol \"no_such_symbol_here\"") == true)
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
