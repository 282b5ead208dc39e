import Testing
import Foundation
import CElf
@testable import MKDebugInfo

/// Location lists decoded through libdw from both encodings: DWARF 4's
/// `.debug_loc` and DWARF 5's `.debug_loclists`, on one small program
/// compiled twice (the code is the same, so every pc must give the same
/// location), and with what the x86-64 ABI fixes: the first argument is in
/// rdi at the function's entry.
@Suite struct LocationListTests {
    static let source = """
        __attribute__((noinline)) long ext(long x) { __asm__ volatile("" : "+r"(x)); return x ^ 3; }
        __attribute__((noinline)) long work(long a, long b) {
            long s = 0;
            for (long i = 0; i < a; i++) s += ext(i * b);
            return s + a;
        }
        int main(int argc, char **argv) { (void)argv; return (int)work(argc, 7); }
        """

    func compile(_ version: Int, in dir: String) throws -> String {
        let out = dir + "/t\(version)"
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-g", "-gdwarf-\(version)", "-no-pie", "-o", out, dir + "/t.c"]
        try cc.run()
        cc.waitUntilExit()
        #expect(cc.terminationStatus == 0)
        return out
    }

    /// A parameter's location at each pc of its function, ops compared without their offsets
    /// and GNU's DWARF 4 entry value (0xf3) as DWARF 5's (0xa3).
    func locations(_ path: String, function name: String = "work", parameter: String = "a") throws -> (entry: UInt64, byPC: [LocationDescription]) {
        let dwarf = try DwarfFile(elf: try LibElfFile(path: path))
        var work: DIE?
        for off in dwarf.unitOffsets() {
            dwarf.die(at: off)?.forEachChild { c in
                if work == nil, c.tag == DW_TAG_subprogram, c.name == name, c.lowPC != nil { work = c }
            }
        }
        let function = try #require(work)
        let low = try #require(function.lowPC)
        var a: DIE?
        function.forEachChild { c in if c.tag == DW_TAG_formal_parameter, c.name == parameter { a = c } }
        let parameter = try #require(a)
        var result: [LocationDescription] = []
        var pc = low
        while function.contains(pc), pc < low + 0x400 {
            var loc = try #require(parameter.location(DW_AT_location, at: pc))
            if case let .expression(ops) = loc { loc = .expression(ops.map(Self.normalized)) }
            result.append(loc)
            pc += 1
        }
        return (low, result)
    }

    static func normalized(_ op: DwarfOp) -> DwarfOp {
        var o = op
        o.offset = 0
        if o.atom == UInt8(DW_OP_GNU_entry_value) { o.atom = UInt8(DW_OP_entry_value) }
        o.nested = o.nested.map(normalized)
        return o
    }

    @Test func dwarf4AndDwarf5ListsAgree() throws {
        let dir = NSTemporaryDirectory() + "mkdbg-loclists-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.source.write(toFile: dir + "/t.c", atomically: true, encoding: .utf8)
        let four = try locations(try compile(4, in: dir))
        let five = try locations(try compile(5, in: dir))
        #expect(four.byPC.count == five.byPC.count && four.byPC.count > 8)
        #expect(four.byPC == five.byPC)
        // At the entry, `a` is the first argument register: DW_OP_reg5 (rdi).
        #expect(four.byPC.first == .expression([DwarfOp(atom: UInt8(DW_OP_reg5))]), "\(String(describing: four.byPC.first))")
        // A real list: the location changes inside the function (a is kept elsewhere across the calls).
        #expect(Set(four.byPC.map { "\($0)" }).count > 1, "\(four.byPC)")

        let main4 = try locations(try compile(4, in: dir), function: "main", parameter: "argc")
        let main5 = try locations(try compile(5, in: dir), function: "main", parameter: "argc")
        #expect(main4.byPC == main5.byPC)
        let entry = main4.byPC.first { if case let .expression(ops) = $0 { return ops.first?.atom == UInt8(DW_OP_entry_value) } else { return false } }
        guard case let .expression(ops)? = entry else { Issue.record("no entry value in \(main4.byPC)"); return }
        #expect(ops.first?.nested == [DwarfOp(atom: UInt8(DW_OP_reg5))] && ops.last?.atom == UInt8(DW_OP_stack_value), "\(ops)")
    }
}
