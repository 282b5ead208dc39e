import Testing
import Foundation
import MKDebugInfo

/// The kernel's own symbol table read from its memory (VMCOREINFO's
/// SYMBOL(kallsyms_*)), against the vmlinux's ELF symbols on the same dump;
/// mkdbg without the vmlinux (`--no-debuginfo`) naming code as it does with it.
@Suite(.serialized) struct KallsymsTests {
    @Test(arguments: ["running", "panicked"]) func everyNameIsWhereTheVmlinuxPutsIt(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let t = try fx.target()
        let info = try #require(t.image.vmcoreInfo)
        let entries = try Kallsyms.read(memory: t.memory, vmcoreInfo: info, image: fx.elf)
        let symtab = try #require(t.symbols)
        #expect(entries.count > 80_000, "\(entries.count) symbols")
        var same = 0, absent = 0
        var differ: [String] = []
        for e in entries {
            guard let s = symtab.lookup(e.name) else { absent += 1; continue }
            if s.address == e.address { same += 1 } else { differ.append("\(e.name) \(e.type) \(hex0x(e.address)) vs \(hex0x(s.address))") }
        }
        // Static functions share names (the symtab's lookup picks one of them); a name kallsyms has
        // once is where the symtab has it.
        var seen: [String: Int] = [:]
        for e in entries { seen[e.name, default: 0] += 1 }
        let once = entries.filter { seen[$0.name] == 1 }
        let moved = once.filter { e in symtab.lookup(e.name).map { $0.address != e.address } ?? false }
        #expect(Double(same) > 0.9 * Double(entries.count), "\(same) of \(entries.count) agree; \(differ.prefix(5))")
        #expect(once.count > 70_000 && moved.count * 1000 < once.count, "\(moved.count) of \(once.count): \(moved.prefix(5))")
        print("kallsyms \(name): \(entries.count) symbols, \(same) at the symtab's address, \(absent) not in it, "
              + "\(moved.count) of \(once.count) unique names elsewhere")
        let globalText = entries.filter { $0.type == "T" }
        #expect(globalText.count > 10_000)
        let wrong = globalText.filter { e in symtab.lookup(e.name).map { $0.address != e.address } ?? true }
        #expect(wrong.isEmpty, "\(wrong.count) global functions differ: \(wrong.prefix(5))")
        // Known symbols, by type letter: text, data, per-CPU (not moved by KASLR).
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["schedule"]?.type == "T" && byName["init_task"]?.type == "D", "\(String(describing: byName["init_task"]))")
        #expect(byName["runqueues"].map { $0.address < 0x10_0000 } == true, "\(String(describing: byName["runqueues"]))")
        #expect(byName["runqueues"]?.address == symtab.lookup("runqueues")?.address)
    }

    /// Without the vmlinux: `info image` says where the symbols come from, and
    /// `sym`, `x/i` name code as they do with it.
    @Test func noDebugInfoNamesCodeFromKallsyms() throws {
        let fx = try LabFixture.load("panicked")
        let commands = ["sym schedule", "x/8i schedule", "info symbol init_task", "sym \(fx.panicBody)"]
        let with = try runMkdbg(["-c", fx.elf] + commands.flatMap { ["-e", $0] })
        let without = try runMkdbg(["--no-debuginfo", "-c", fx.elf] + commands.flatMap { ["-e", $0] })
        #expect(with.status == 0 && without.status == 0, "\(without.err)")
        #expect(without.err.contains("symbols from the kernel's kallsyms in memory ("), "\(without.err)")
        let a = with.out.split(separator: "\n"), b = without.out.split(separator: "\n")
        try #require(a.count == b.count, "\(with.out)\n---\n\(without.out)")
        // The addresses and names agree; sizes are the distance to the next symbol without the vmlinux.
        #expect(a[0].split(separator: " ").prefix(3) == b[0].split(separator: " ").prefix(3), "\(a[0]) / \(b[0])")
        #expect(Array(a[1..<9]) == Array(b[1..<9]))
        // The section is the vmlinux's to say.
        #expect(a[9] == "init_task in section .data" && b[9].hasPrefix("init_task in section "), "\(a[9]) / \(b[9])")
        let image = try BacktraceTests.json(fx, ["info image"])
        #expect(image[0]["symbols"] as? String == "vmlinux")
        let bare = try runMkdbg(["--no-debuginfo", "--json", "-c", fx.elf, "-e", "info image"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(bare.out.utf8)) as? [String: Any])
        #expect(o["symbols"] as? String == "kallsyms" && o["vmlinux"] is NSNull, "\(bare.out)")
    }

    /// A symbol count of 2^32-1 in a copy of the dump: a clear error naming the
    /// table and its address, quickly, and mkdbg goes on without symbols.
    @Test func anImpossibleSymbolCountIsAClearError() throws {
        let fx = try LabFixture.load("running")
        let damaged = try DamagedDump(fx, name: "kallsyms-count")
        defer { damaged.remove() }
        let at = try #require(damaged.target.image.vmcoreInfo?.symbol("kallsyms_num_syms"))
        try damaged.write([0xff, 0xff, 0xff, 0xff], atVirtual: at)
        let r = try runMkdbg(["--no-debuginfo", "-c", damaged.path, "-e", "info image"])
        #expect(r.status == 0 && r.out.contains("symbols           none"), "\(r.err)")
        #expect(r.err.contains("kallsyms_num_syms at \(hex0x(at)): 4294967295 symbols, expected 1 to 4000000"), "\(r.err)")
    }
}

private func hex0x(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
