import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo

/// vtop, ptov, pte and struct/union on the lab's real dumps: translations
/// checked against the bytes `x -p` reads, values against `print`.
@Suite(.serialized) struct PageTableTests {
    static func one(_ image: String, _ command: String) throws -> [String: Any] {
        try #require(KernelTests.json(image, [command]).first)
    }

    static func hexValue(_ v: Any?) throws -> UInt64 {
        let s = try #require(v as? String, "not a hex string: \(v ?? "nil")")
        return try #require(UInt64(s.dropFirst(2), radix: 16), "not hex: \(s)")
    }

    /// `x/NFU` rows' values, flattened.
    static func words(_ o: [String: Any]) throws -> [String] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        let rows = try #require(o["rows"] as? [[String: Any]])
        return rows.flatMap { $0["values"] as? [String] ?? [] }
    }

    /// init_task through the text map, and the same page through the direct
    /// map (ptov of its physical address): both walks land on the physical
    /// address whose bytes `x -p` reads as `x` reads the variable's.
    @Test(arguments: ["running", "panicked"])
    func vtopAgreesWithPhysicalReads(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let text = try Self.one(fx.elf, "vtop init_task")
        #expect(text["ok"] as? Bool == true, "\(text["error"] ?? "")")
        let va = try Self.hexValue(text["virtual"])
        let pa = try Self.hexValue(text["physical"])
        let levels = try #require(text["levels"] as? [[String: Any]])
        #expect(levels.map { $0["level"] as? String } == ["pgd", "pud", "pmd"] || levels.count == 4, "\(levels)")
        #expect(levels.allSatisfy { ($0["flags"] as? [String])?.contains("PRESENT") == true })
        let pageSize = try #require(text["page_size"] as? Int)
        #expect([4096, 2 << 20].contains(pageSize))

        let ptov = try Self.one(fx.elf, "ptov \(hex(pa))")
        let direct = try Self.hexValue(ptov["virtual"])
        #expect(direct != va && direct >> 47 == 0x1ffff, "a direct-map address: \(hex(direct))")
        let o = try KernelTests.json(fx.elf, ["vtop \(hex(direct))", "x/64xg init_task", "x/64xg -p \(hex(pa))",
                                               "x/64xg \(hex(direct))", "p/x (unsigned long)vmemmap_base + \(pa / 4096) * sizeof(struct page)"])
        #expect(o[0]["ok"] as? Bool == true, "\(o[0]["error"] ?? "")")
        #expect(try Self.hexValue(o[0]["physical"]) == pa, "the direct map's walk and the text map's agree")
        let viaText = try Self.words(o[1])
        #expect(viaText.count == 64)
        #expect(viaText.contains { $0 != "0x0000000000000000" })
        #expect(try Self.words(o[2]) == viaText)
        #expect(try Self.words(o[3]) == viaText)
        // struct page: vmemmap_base + pfn × sizeof(struct page), as the expression evaluator computes it.
        #expect(text["page"] as? String == o[4]["value"] as? String)
        #expect(text["pfn"] as? Int == Int(pa / 4096))
    }

    /// A vmalloc'd task stack: 4 KiB pages, so the walk reaches the PTE level.
    @Test func vtopOfATaskStackWalksToThePte() throws {
        let fx = try LabFixture.load("panicked")
        let ps = try Self.one(fx.elf, "ps 1")
        let task = try #require((ps["tasks"] as? [[String: Any]])?.first?["task"] as? String)
        let stack = try Self.hexValue(try Self.one(fx.elf, "p/x (unsigned long)((struct task_struct *)\(task))->stack")["value"])
        let va = stack + 0x1ff8
        let o = try KernelTests.json(fx.elf, ["vtop \(hex(va))", "x/2xg \(hex(va - 8))"])
        #expect(o[0]["ok"] as? Bool == true, "\(o[0]["error"] ?? "")")
        let levels = try #require(o[0]["levels"] as? [[String: Any]])
        #expect(levels.map { $0["level"] as? String } == ["pgd", "pud", "pmd", "pte"])
        #expect(o[0]["page_size"] as? Int == 4096)
        let pa = try Self.hexValue(o[0]["physical"])
        #expect(pa & 0xfff == 0xff8)
        let physical = try Self.one(fx.elf, "x/2xg -p \(hex(pa - 8))")
        #expect(try Self.words(physical) == Self.words(o[1]))
    }

    /// The same walk in-process: every level's entry is the word at its physical address.
    @Test func walkStepsAreTheTablesWords() throws {
        let fx = try LabFixture.load("panicked")
        let target = try fx.target()
        let symbols = try target.requireSymbols()
        let initTask = try symbols.require("init_task").address
        let walker = try target.memory.pageTableWalker()
        let walk = try walker.walk(initTask)
        let t = try walk.requireMapped()
        #expect(t.physical == target.memory.layout?.textToPhysical(initTask))
        for step in walk.steps {
            let bytes = try target.memory.readPhysical(step.entryAddress, count: 8)
            let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            #expect(word == step.entry, "\(step.level) at \(hex(step.entryAddress))")
        }
        // Each non-leaf entry's address is the next step's table.
        for (a, b) in zip(walk.steps, walk.steps.dropFirst()) {
            #expect(walker.decode(a.entry, level: a.level).address == b.entryAddress & ~0xfff)
        }
    }

    @Test func pteDecodesAKnownValue() throws {
        let fx = try LabFixture.load("panicked")
        let o = try KernelTests.json(fx.elf, ["pte 8000000001000163", "pte 0x1e0d067", "pte 0", "pte nonsense"])
        #expect(o[0]["physical"] as? String == "0x1000000")
        #expect(o[0]["flags"] as? [String] == ["PRESENT", "RW", "ACCESSED", "DIRTY", "GLOBAL", "NX"])
        #expect(o[0]["present"] as? Bool == true)
        #expect(o[1]["physical"] as? String == "0x1e0d000")
        #expect(o[1]["flags"] as? [String] == ["PRESENT", "RW", "USER", "ACCESSED", "DIRTY"])
        #expect(o[2]["present"] as? Bool == false)
        #expect(o[2]["flags"] as? [String] == [])
        #expect(o[3]["ok"] as? Bool == false)
        let r = try runMkdbg(["-c", fx.elf, "-e", "pte 8000000001000163"])
        #expect(r.out.contains("8000000001000163  1000000   (PRESENT|RW|ACCESSED|DIRTY|GLOBAL|NX)"), "\(r.out)")
        // Bit 7 is PSE in a PMD (bit 12 then PAT, not address), PAT in a PTE.
        let huge = X86_64PageTableEntry.decode(0x8000_0000_1b40_11e3, level: "pmd")
        #expect(huge.flags == ["PRESENT", "RW", "ACCESSED", "DIRTY", "PSE", "GLOBAL", "PAT_LARGE", "NX"])
        #expect(huge.address == 0x1b40_0000 && huge.isLeaf && huge.pageSize == 2 << 20)
        let small = X86_64PageTableEntry.decode(0x3000_0000_1b40_1083, level: "pte")
        #expect(small.flags == ["PRESENT", "RW", "PAT", "PKEY=6"])
        #expect(small.address == 0x1b40_1000 && small.pageSize == 4096)
        #expect(!X86_64PageTableEntry.decode(0x1b415067, level: "pud").isLeaf)
    }

    /// A non-canonical address, one whose PGD entry is empty, and one whose
    /// PUD entry is: typed errors naming the address and the level.
    @Test func unmappedAddressesNameTheLevel() throws {
        let fx = try LabFixture.load("panicked")
        // An address 1 GiB PUD slots away from the direct map's RAM (the guest has 512 MiB) under the
        // same present PGD entry: KASLR puts page_offset_base at any 1 GiB step of its 512 GiB slot.
        let base = try #require(try KernelTests.json(fx.elf, ["p/x page_offset_base"])[0]["integer"] as? UInt64)
        let gib: UInt64 = 1 << 30, slot = base & ~((512 * gib) - 1)
        let hole = base - slot >= 4 * gib ? slot : base + 4 * gib
        let holeText = "0x" + String(hole, radix: 16)
        let o = try KernelTests.json(fx.elf, ["vtop 0x800000000000", "vtop 0x1000", "vtop \(holeText)"])
        for (obj, (address, level)) in zip(o, [("0x800000000000", "canonical"), ("0x1000", "pgd"), (holeText, "pud")]) {
            #expect(obj["ok"] as? Bool == false)
            let e = try #require(obj["error"] as? [String: Any])
            #expect(e["kind"] as? String == "unreadable_memory")
            #expect(e["address"] as? String == address)
            #expect(e["level"] as? String == level, "\(e)")
        }
        let target = try fx.target()
        let walker = try target.memory.pageTableWalker()
        #expect(throws: PageTableWalkError.nonCanonical(address: 0x8000_0000_0000, bits: 48)) {
            try walker.walk(0x8000_0000_0000).requireMapped()
        }
        let walk = try walker.walk(hole)
        #expect(walk.outcome == .notPresent(level: "pud"))
        #expect(walk.steps.count == 2 && walk.steps.last?.entry == 0)
    }

    @Test func structPrintsCountsAndOffsets() throws {
        let fx = try LabFixture.load("panicked")
        let o = try KernelTests.json(fx.elf, [
            "struct list_head init_task.tasks -c 2", "p/x init_task.tasks.next", "p &init_task.tasks",
            "struct -o list_head", "struct -o task_struct.pid,comm", "p offsetof(struct task_struct, comm)",
            "struct task_struct.pid,comm init_task", "struct -o task_struct.pid &init_task",
            "struct list_head init_task.tasks -c 0", "struct no_such_type", "union bpf_attr.map_type,key_size (void *)&init_task + 8", "p/x (unsigned long)&init_task",
        ])
        let objects = try #require(o[0]["objects"] as? [[String: Any]])
        #expect(objects.count == 2 && o[0]["count"] as? Int == 2)
        let first = try Self.hexValue(objects[0]["address"])
        #expect(try Self.hexValue(objects[1]["address"]) == first + 16)
        #expect((o[2]["value"] as? String)?.contains(hex(first)) == true, "\(o[2])")
        let next = try #require(o[1]["value"] as? String)
        #expect((objects[0]["value"] as? String)?.contains("next = \(next)") == true, "\(objects[0])")
        let listMembers = try #require(o[3]["members"] as? [[String: Any]])
        #expect(listMembers.map { $0["offset"] as? Int } == [0, 8])
        #expect((o[3]["text"] as? String)?.contains("[8] struct list_head *prev;") == true)
        let taskMembers = try #require(o[4]["members"] as? [[String: Any]])
        #expect(taskMembers.last?["offset"] as? Int == o[5]["integer"] as? Int, "\(taskMembers) vs \(o[5])")
        let values = try #require((o[6]["objects"] as? [[String: Any]])?.first?["members"] as? [[String: Any]])
        #expect(values.first?["value"] as? String == "0")
        #expect((values.last?["value"] as? String)?.hasPrefix("\"swapper/0") == true)
        let at = try #require((o[7]["objects"] as? [[String: Any]])?.first?["members"] as? [[String: Any]])
        let pidOffset = try #require(taskMembers.first?["offset"] as? Int)
        let initTask = try Self.hexValue(o[11]["value"])
        #expect(try Self.hexValue(at.first?["address"]) == initTask + UInt64(pidOffset))
        #expect(o[8]["ok"] as? Bool == false)
        #expect(((o[9]["error"] as? [String: Any])?["kind"] as? String) == "unknown_name")
        #expect(o[10]["ok"] as? Bool == true, "\(o[10]["error"] ?? "")")
        #expect(o[10]["type"] as? String == "union bpf_attr")
        #expect(try Self.hexValue(o[10]["address"]) == initTask + 8)
    }

    /// The fields docs/json.md promises for these commands, with their JSON types.
    @Test func jsonFieldsAreTheDocumentedOnes() throws {
        let fx = try LabFixture.load("running")
        let schema: [(String, [String: String])] = [
            ("vtop init_task", ["virtual": "s", "physical": "s", "page_size": "n", "root": "s", "levels": "a",
                                "flags": "a", "pfn": "n", "page": "s"]),
            ("ptov 1000", ["physical": "s", "virtual": "s"]),
            ("pte 1e0d067", ["value": "s", "physical": "s", "present": "b", "flags": "a"]),
            ("struct list_head init_task.tasks", ["type": "s", "size": "n", "address": "s", "count": "n",
                                                  "objects": "a", "members": "a", "text": "s"]),
        ]
        let objects = try KernelTests.json(fx.elf, schema.map(\.0))
        func kind(_ v: Any?) -> String {
            switch v {
            case is String: return "s"
            case let n as NSNumber: return String(describing: type(of: n)).contains("Bool") ? "b" : "n"
            case is [Any]: return "a"
            default: return "?"
            }
        }
        for (o, (command, fields)) in zip(objects, schema) {
            #expect(o["ok"] as? Bool == true, "\(command): \(o["error"] ?? "")")
            #expect(Set(o.keys).subtracting(["command", "name", "ok"]) == Set(fields.keys), "\(command)")
            for (name, want) in fields { #expect(kind(o[name]) == want, "\(command): \(name) is \(o[name] ?? "missing")") }
        }
        let level = try #require((objects[0]["levels"] as? [[String: Any]])?.first)
        for (name, want) in ["level": "s", "entry_address": "s", "entry": "s", "flags": "a", "address": "s"] {
            #expect(kind(level[name]) == want, "vtop levels \(name)")
        }
        #expect(objects[1]["virtual"] as? String == "0x" + String(try Self.hexValue(objects[1]["physical"]) + (try Self.hexValue(
            try KernelTests.json(fx.elf, ["p/x page_offset_base"]).first?["value"])), radix: 16))
    }
}
