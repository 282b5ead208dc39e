import Foundation
import Testing

/// gdb's `LVALUE@N`, `output` and `info functions|variables|types` on the
/// panicked dump, against answers reached another way (members and elements
/// printed one by one, gdb's grammar, the name index's own lookups).
@Suite struct ArtificialArrayTests {
    func run(_ commands: [String], json: Bool = false) throws -> (out: String, err: String) {
        let fx = try LabFixture.load("panicked")
        let r = try runMkdbg(["-c", fx.elf] + (json ? ["--json"] : []) + commands.flatMap { ["-e", $0] })
        return (r.out, r.err)
    }

    @Test func artificialArraysReadWhatTheElementsHold() throws {
        let r = try run(["p init_task.comm[0]@4", "p __per_cpu_offset[0]", "p __per_cpu_offset[1]", "p __per_cpu_offset[0]@2",
                         "p/x __per_cpu_offset[0]@2", "p *(&init_task.prio)@4", "p init_task.rt_priority",
                         "whatis init_task.comm[0]@4", "p init_task.comm[1]@2+1", "p init_task.comm[0]@2@2", "p &$1",
                         "p *(&init_task.pid)@2", "p sizeof(init_task.comm[0]@5)"])
        let lines = r.out.split(separator: "\n").map(String.init)
        try #require(lines.count == 13, "\(r.out)\n\(r.err)")
        #expect(lines[0] == "$1 = \"swap\"")
        // The two CPUs' offsets differ, and @ reads them in order.
        let a = String(lines[1].dropFirst(5)), b = String(lines[2].dropFirst(5))
        #expect(a != b)
        #expect(lines[3] == "$4 = {\(a), \(b)}")
        let hexA = "0x" + String(UInt64(a) ?? 0, radix: 16), hexB = "0x" + String(UInt64(b) ?? 0, radix: 16)
        #expect(lines[4] == "$5 = {\(hexA), \(hexB)}")
        // prio, static_prio, normal_prio, rt_priority are consecutive ints.
        #expect(lines[5] == "$6 = {120, 120, 120, \(lines[6].dropFirst(5))}")
        #expect(lines[7] == "type = char [4]")
        // gdb's grammar: @ binds looser than +, so the count is 3.
        #expect(lines[8] == "$8 = \"wap\"")
        #expect(lines[9] == "$9 = {\"sw\", \"ap\"}")
        #expect(lines[10].hasPrefix("$10 = (char (*)[4]) 0x") && lines[10].hasSuffix("<init_task+2976>"), "\(lines[10])")
        #expect(lines[11] == "$11 = {0, 0}")
        #expect(lines[12] == "$12 = 5")
    }

    @Test func artificialArraysAreBoundedAndChecked() throws {
        let big = try run(["p jiffies@100000000"])
        #expect(big.out.hasPrefix("$1 = {") && big.out.hasSuffix("...}\n"), "\(big.out.suffix(80))")
        #expect(big.out.count < 20_000)
        let r = try run(["p 1@2", "p init_task.comm[0]@0", "p init_task.comm[0]@-3", "p init_task.comm[0]@init_task"], json: true)
        let errors = r.out.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["error"] as? [String: Any]
        }
        try #require(errors.count == 4, "\(r.out)")
        #expect(errors.map { $0["kind"] as? String } == ["evaluation", "evaluation", "evaluation", "evaluation"])
        #expect(errors.map { $0["column"] as? Int } == [1, 19, 19, 19])
        #expect((errors[0]["message"] as? String)?.hasPrefix("the left side of @ must be a value in memory") == true)
        #expect((errors[2]["message"] as? String)?.hasPrefix("the right side of @ must be a positive count, not -3") == true)
    }

    @Test func outputPrintsWithoutNumberNewlineOrHistory() throws {
        let r = try run(["output init_task.pid", "output/x init_task.comm[0]@2", "p 5", "output $1"])
        #expect(r.out == "0{0x73, 0x77}$1 = 5\n5", "\(r.out)")
    }

    @Test func infoFunctionsVariablesTypes() throws {
        let r = try run(["info functions ^panic$", "info variables ^init_task$", "info types ^task_struct$", "info types ^pid_t$"])
        #expect(r.out == """
            All functions matching regular expression "^panic$":
            panic
            All variables matching regular expression "^init_task$":
            init_task
            All types matching regular expression "^task_struct$":
            struct task_struct;
            All types matching regular expression "^pid_t$":
            pid_t

            """, "\(r.out)")
        let j = try run(["info functions ^panic", "info functions (panic", "info variables a(b", "info types"], json: true)
        let o = j.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(o.count == 4, "\(j.out)")
        let matches = try #require(o[0]["matches"] as? [[String: Any]])
        let names = matches.compactMap { $0["name"] as? String }
        #expect(names.contains("panic") && names.contains("panic_print_sys_info") && names.allSatisfy { $0.hasPrefix("panic") })
        #expect(names == names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(o[0]["count"] as? Int == names.count && o[0]["truncated"] as? Bool == false)
        for (object, column) in [(o[1], 1), (o[2], 2)] {
            let e = try #require(object["error"] as? [String: Any])
            #expect(e["kind"] as? String == "syntax" && e["column"] as? Int == column, "\(e)")
        }
        // Every type of the kernel is far more than the 2000 shown.
        #expect(o[3]["truncated"] as? Bool == true && (o[3]["count"] as? Int ?? 0) > 10_000)
        #expect((o[3]["matches"] as? [Any])?.count == 2000)
    }
}
