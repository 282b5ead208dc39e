import Testing
import MKFormat
@testable import MKMemory

/// The arm64 walker on tables built by hand (the lab's arm64 dump checks it on the kernel's
/// own tables, Tests/LabTests/Arm64Tests.swift): levels by address size and granule, blocks,
/// 52-bit output addresses of the 64 KiB granule, and the VMCOREINFO layout's arithmetic.
@Suite struct Arm64PageTableWalkerTests {
    static let table: UInt64 = 0b11, page: UInt64 = 0b11, block: UInt64 = 0b01, af: UInt64 = 1 << 10

    @Test func levelsByAddressSizeAndGranule() {
        #expect(Arm64PageTableWalker.levels(vaBits: 48, granule: 4096) == 4)
        #expect(Arm64PageTableWalker.levels(vaBits: 39, granule: 4096) == 3)
        #expect(Arm64PageTableWalker.levels(vaBits: 47, granule: 16384) == 3)
        #expect(Arm64PageTableWalker.levels(vaBits: 48, granule: 16384) == 4)
        #expect(Arm64PageTableWalker.levels(vaBits: 42, granule: 65536) == 2)
        #expect(Arm64PageTableWalker.levels(vaBits: 52, granule: 65536) == 3)
    }

    /// 4 KiB granule, 48 bits: a page, a 2 MiB block at level 2 and a 1 GiB one at level 1.
    @Test func fourLevelsWithBlocks() throws {
        let m = WordMemory()
        let va: UInt64 = 0xffff_8000_1234_5678
        func idx(_ shift: UInt64) -> UInt64 { (va >> shift) & 0x1ff }
        m.set(0x1000 + idx(39) * 8, 0x2000 | Self.table)
        m.set(0x2000 + idx(30) * 8, 0x3000 | Self.table)
        m.set(0x3000 + idx(21) * 8, 0x4000 | Self.table)
        m.set(0x4000 + idx(12) * 8, 0x0060_0000_4abc_d000 | Self.af | Self.page) // PXN, UXN
        let w = Arm64PageTableWalker(root: 0x1000, vaBits: 48, granule: 4096, readEntry: m.read)
        let t = try w.translate(va)
        #expect(t.physical == 0x4abc_d678 && t.pageSize == 4096)
        #expect(t.steps.map(\.level) == ["pgd", "pud", "pmd", "pte"])
        let leaf = try #require(t.steps.last)
        #expect(w.decode(leaf.entry, level: "pte").flags == ["VALID", "PAGE", "AF", "PXN", "UXN", "ATTRINDX=0"])

        // The next 2 MiB: a block at the pmd level.
        m.set(0x3000 + (idx(21) + 1) * 8, 0x5020_0000 | Self.af | Self.block)
        let two = try w.translate(va + (2 << 20))
        #expect(two.pageSize == 2 << 20)
        #expect(two.physical == 0x5020_0000 + ((va + (2 << 20)) & ((2 << 20) - 1)))
        #expect(w.decode(try #require(two.steps.last).entry, level: "pmd").isLeaf)

        // The next 1 GiB: a block at the pud level.
        m.set(0x2000 + (idx(30) + 1) * 8, 0x1_4000_0000 | Self.af | Self.block)
        let one = try w.translate(va + (1 << 30))
        #expect(one.pageSize == 1 << 30 && one.physical == 0x1_4000_0000 + (va & ((1 << 30) - 1)))
        #expect(one.steps.count == 2)

        // A block descriptor at the last level is not a valid page.
        m.set(0x4000 + (idx(12) + 1) * 8, 0x4abc_e000 | Self.block)
        #expect(try w.walk(va + 4096).outcome == .notPresent(level: "pte"))
        // Nothing at the pgd level for a user address; and bits above 48 must copy bit 63.
        #expect(try w.walk(0x0000_1234_0000_0000).outcome == .notPresent(level: "pgd"))
        #expect(try w.walk(0x00ff_8000_0000_0000).outcome == .nonCanonical(bits: 48))
    }

    /// 4 KiB granule, 39 bits: three levels, the top one indexed by bits 38–30.
    @Test func threeLevels() throws {
        let m = WordMemory()
        let va: UInt64 = 0xffff_ffc0_0820_1000
        m.set(0x1000 + ((va >> 30) & 0x1ff) * 8, 0x2000 | Self.table)
        m.set(0x2000 + ((va >> 21) & 0x1ff) * 8, 0x3000 | Self.table)
        m.set(0x3000 + ((va >> 12) & 0x1ff) * 8, 0x8765_4000 | Self.af | Self.page)
        let w = Arm64PageTableWalker(root: 0x1000, vaBits: 39, granule: 4096, readEntry: m.read)
        let t = try w.translate(va + 0x10)
        #expect(t.physical == 0x8765_4010)
        #expect(t.steps.map(\.level) == ["pgd", "pmd", "pte"])
        #expect(!w.isCanonical(0xffff_ff80_0000_0000 - 1))
    }

    /// 64 KiB granule, 52 bits: three levels, and a page whose output address has PA[51:48] in bits 15–12.
    @Test func sixtyFourKilobyteGranule() throws {
        let m = WordMemory()
        let va: UInt64 = 0xfff0_0123_4567_89ab
        m.set(0x10000 + ((va >> 42) & 0x3ff) * 8, 0x20000 | Self.table)
        m.set(0x20000 + ((va >> 29) & 0x1fff) * 8, 0x30000 | Self.table)
        m.set(0x30000 + ((va >> 16) & 0x1fff) * 8, 0xabcd_0000 | 0x3000 | Self.af | Self.page)
        let w = Arm64PageTableWalker(root: 0x10000, vaBits: 52, granule: 65536, readEntry: m.read)
        let t = try w.translate(va)
        #expect(t.pageSize == 65536)
        #expect(t.physical == 0x0003_0000_abcd_0000 | (va & 0xffff))
    }

    /// The layout from an arm64 VMCOREINFO (the lab dump's numbers): linear map both ways with
    /// a negative PHYS_OFFSET, the image map by kimage_voffset, and swapper_pg_dir's physical.
    @Test func layoutFromVmcoreInfo() throws {
        let info = VmcoreInfo(text: """
            PAGESIZE=4096
            SYMBOL(swapper_pg_dir)=ffffc5e43e18f000
            NUMBER(VA_BITS)=48
            NUMBER(MODULES_END)=0xffff800008000000
            NUMBER(VMEMMAP_START)=0xfffffc0000000000
            NUMBER(kimage_voffset)=0xffffc5e3fcc00000
            NUMBER(PHYS_OFFSET)=0xffffb1be40000000
            NUMBER(TCR_EL1_T1SZ)=0x10
            KERNELOFFSET=45e434e00000
            NUMBER(KERNELPACMASK)=0x0
            SIZE(page)=64

            """)
        var l = try Arm64Layout(vmcoreInfo: info, imagePath: "t")
        #expect(l.topLevelTable == 0x4158_f000)
        #expect(l.activeVaBits == 48 && l.pageTableLevels == 4)
        #expect(l.textToPhysical(0xffff_c5e4_3ce1_0000) == 0x4021_0000)   // _stext
        // Past swapper_pg_dir the map ends until _end is known.
        #expect(l.textToPhysical(0xffff_c5e4_3e62_8c80) == nil)
        l.setKernelImageEnd(0xffff_c5e4_3e8b_0000)
        #expect(l.textToPhysical(0xffff_c5e4_3e62_8c80) == 0x41a2_8c80)   // init_task
        #expect(l.directToPhysical(0xffff_4e42_02f0_4100) == 0x42f0_4100)
        #expect(l.physicalToDirect(0x42f0_4100) == 0xffff_4e42_02f0_4100)
        #expect(l.directToPhysical(0xffff_8000_0000_0000) == nil)          // PAGE_END: vmalloc
        #expect(l.directMapBase == 0xffff_4e41_c000_0000)
        // vmemmap − (memstart_addr >> 12) × 64, memstart_addr negative.
        #expect(l.defaultMemoryMapBase &+ 0x42f04 &* 64 == 0xffff_fd39_080b_c100)
        #expect(l.space.isKernelAddress(0xffff_0000_0000_0000) && !l.space.isKernelAddress(0xfffe_ffff_ffff_ffff))
        #expect(throws: LayoutError.self) { try Arm64Layout(vmcoreInfo: VmcoreInfo(text: "NUMBER(VA_BITS)=48\n"), imagePath: "t") }
        let oddT1sz = VmcoreInfo(text: info.entries.map { $0.key == "NUMBER(TCR_EL1_T1SZ)" ? "\($0.key)=0x40" : "\($0.key)=\($0.value)" }.joined(separator: "\n"))
        #expect(throws: LayoutError.self) { try Arm64Layout(vmcoreInfo: oddT1sz, imagePath: "t") }
    }
}
