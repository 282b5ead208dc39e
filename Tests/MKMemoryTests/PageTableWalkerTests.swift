import Testing
import MKFormat
@testable import MKMemory

/// Physical memory as a sparse map of 8-byte words, enough to hold page tables.
final class WordMemory {
    var words: [UInt64: UInt64] = [:]
    func set(_ address: UInt64, _ value: UInt64) { words[address] = value }
    func read(_ address: UInt64) throws -> UInt64 { words[address] ?? 0 }
}

@Suite struct PageTableWalkerTests {
    // A 4-level tree: root 0x1000, pud 0x2000, pmd 0x3000, pte 0x4000.
    func tree() -> WordMemory {
        let m = WordMemory()
        let va: UInt64 = 0xffff_c900_0000_0000 // pgd 402, pud 0, pmd 0, pte 0
        let pgdIndex = (va >> 39) & 0x1ff
        m.set(0x1000 + pgdIndex * 8, 0x2000 | 0x63)
        m.set(0x2000 + 0 * 8, 0x3000 | 0x63)
        m.set(0x3000 + 0 * 8, 0x4000 | 0x63)
        m.set(0x4000 + 1 * 8, 0x8000_0000_0abc_d000 | 0x63) // NX bit set, 4 KiB page for pte index 1
        // 2 MiB page at pmd index 1
        m.set(0x3000 + 1 * 8, 0x0000_0000_4020_0000 | 0x80 | 0x63)
        // 1 GiB page at pud index 1
        m.set(0x2000 + 1 * 8, 0x0000_0001_4000_0000 | 0x80 | 0x63)
        return m
    }

    @Test func fourKilobytePage() throws {
        let m = tree()
        let w = X86_64PageTableWalker(root: 0x1000, levels: 4, readEntry: m.read)
        let t = try w.translate(0xffff_c900_0000_1234)
        #expect(t.physical == 0x0abc_d234)
        #expect(t.pageSize == 4096)
        #expect(t.steps.map(\.level) == ["pgd", "pud", "pmd", "pte"])
    }

    @Test func hugePages() throws {
        let m = tree()
        let w = X86_64PageTableWalker(root: 0x1000, levels: 4, readEntry: m.read)
        let two = try w.translate(0xffff_c900_0020_0000 + 0x12345)
        #expect(two.physical == 0x4020_0000 + 0x12345)
        #expect(two.pageSize == 2 << 20)
        let one = try w.translate(0xffff_c900_4000_0000 + 0x1234567)
        #expect(one.physical == 0x1_4000_0000 + 0x1234567)
        #expect(one.pageSize == 1 << 30)
    }

    @Test func notPresentAndNonCanonical() throws {
        let m = tree()
        let w = X86_64PageTableWalker(root: 0x1000, levels: 4, readEntry: m.read)
        do { _ = try w.translate(0xffff_c900_0000_3000); Issue.record("expected an error") } catch let e as MemoryError {
            #expect(e.description.contains("pte entry"))
            #expect(e.description.contains("0xffffc90000003000"))
        }
        #expect(throws: MemoryError.self) { try w.translate(0x0000_9000_0000_0000) }
    }

    @Test func fiveLevels() throws {
        let m = WordMemory()
        let va: UInt64 = 0xff11_0000_0000_5000
        m.set(0x1000 + ((va >> 48) & 0x1ff) * 8, 0x2000 | 1)
        m.set(0x2000 + ((va >> 39) & 0x1ff) * 8, 0x3000 | 1)
        m.set(0x3000 + ((va >> 30) & 0x1ff) * 8, 0x4000 | 1)
        m.set(0x4000 + ((va >> 21) & 0x1ff) * 8, 0x5000 | 1)
        m.set(0x5000 + ((va >> 12) & 0x1ff) * 8, 0x77000 | 1)
        let w = X86_64PageTableWalker(root: 0x1000, levels: 5, readEntry: m.read)
        let t = try w.translate(va + 0x10)
        #expect(t.physical == 0x77010)
        #expect(t.steps.count == 5)
        #expect(!w.isCanonical(0x0100_0000_0000_0000))
    }

    @Test func layoutFromVmcoreInfo() throws {
        let info = VmcoreInfo(text: "KERNELOFFSET=21000000\nNUMBER(phys_base)=-545259520\nSYMBOL(init_top_pgt)=ffffffffa280a000\n")
        let l = try X86_64Layout(vmcoreInfo: info, imagePath: "t")
        #expect(l.kaslrOffset == 0x21000000)
        // 0xffffffffa280a000 - 0xffffffff80000000 - 545259520: a negative phys_base
        #expect(l.topLevelTable == 0x200a000)
        #expect(l.textToPhysical(0xffffffff80000000) == nil)
        // a text address that would map below physical zero is refused
        let bad = VmcoreInfo(text: "KERNELOFFSET=0\nNUMBER(phys_base)=-545259520\nSYMBOL(init_top_pgt)=ffffffff8100a000\n")
        #expect(throws: LayoutError.self) { try X86_64Layout(vmcoreInfo: bad, imagePath: "t") }
        #expect(l.levels == 4)
        #expect(throws: LayoutError.self) { try X86_64Layout(vmcoreInfo: VmcoreInfo(text: "PAGESIZE=4096\n"), imagePath: "t") }
    }

    /// The walk keeps the entries it read when it stops, and names the level.
    @Test func walkReportsEveryStep() throws {
        let m = tree()
        let w = X86_64PageTableWalker(root: 0x1000, levels: 4, readEntry: m.read)
        let missing = try w.walk(0xffff_c900_0000_3000)
        #expect(missing.outcome == .notPresent(level: "pte"))
        let expected: [UInt64] = [0x1c90, 0x2000, 0x3000, 0x4018]
        #expect(missing.steps.map(\.entryAddress) == expected)
        #expect(throws: PageTableWalkError.notPresent(address: 0xffff_c900_0000_3000, level: "pte", entryAddress: 0x4018, entry: 0)) {
            try missing.requireMapped()
        }
        let one = try w.walk(0xffff_c900_4000_0000)
        #expect(one.outcome == .mapped(physical: 0x1_4000_0000, pageSize: 1 << 30))
        let leaf = try #require(one.steps.last)
        let info = w.decode(leaf.entry, level: leaf.level)
        #expect(leaf.level == "pud")
        #expect(info.isLeaf)
        #expect(info.pageSize == 1 << 30)
        #expect(info.address == 0x1_4000_0000)
        #expect(info.flags == ["PRESENT", "RW", "ACCESSED", "DIRTY", "PSE"])
        let nx = w.decode(0x8000_0000_0abc_d000 | 0x63, level: "pte")
        #expect(nx.flags == ["PRESENT", "RW", "ACCESSED", "DIRTY", "NX"])
        #expect(nx.address == 0x0abc_d000)
        #expect(try w.walk(0x0000_9000_0000_0000).outcome == .nonCanonical(bits: 48))
    }

    @Test func directMapBothWays() throws {
        let info = VmcoreInfo(text: "KERNELOFFSET=21000000\nNUMBER(phys_base)=-545259520\nSYMBOL(init_top_pgt)=ffffffffa280a000\n")
        var l = try X86_64Layout(vmcoreInfo: info, imagePath: "t")
        l.setDirectMapBase(0xffff_9a00_0000_0000)
        l.physicalLimit = 1 << 32
        #expect(l.physicalToDirect(0x1234) == 0xffff_9a00_0000_1234)
        #expect(l.physicalToDirect(0x1234).flatMap(l.directToPhysical) == 0x1234)
        #expect(l.physicalToDirect(1 << 32) == nil)
        #expect(l.defaultMemoryMapBase == 0xffff_ea00_0000_0000)
    }
}
