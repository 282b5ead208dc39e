import Testing
import MKFormat

@Suite struct VmcoreInfoTests {
    @Test func typedAccess() {
        let info = VmcoreInfo(text: """
            OSRELEASE=6.1.0-56-cloud-amd64
            BUILD-ID=8E1B2C
            PAGESIZE=4096
            SYMBOL(init_uts_ns)=ffffffff9a4166e0
            OFFSET(list_head.next)=0
            SIZE(list_head)=16
            LENGTH(node_data)=1024
            NUMBER(phys_base)=-545259520
            NUMBER(pgtable_l5_enabled)=0
            KERNELOFFSET=18000000
            CRASHTIME=1700000000
            garbage line
            \0\0\0
            """)
        #expect(info.osRelease == "6.1.0-56-cloud-amd64")
        #expect(info.buildId == "8e1b2c")
        #expect(info.pageSize == 4096)
        #expect(info.symbol("init_uts_ns") == 0xffffffff9a4166e0)
        #expect(info.offset("list_head.next") == 0)
        #expect(info.size("list_head") == 16)
        #expect(info.length("node_data") == 1024)
        #expect(info.physBase == -545259520)
        #expect(info.number("pgtable_l5_enabled") == 0)
        #expect(info.kernelOffset == 0x18000000)
        #expect(info.crashTime == 1700000000)
        #expect(info.malformedLines == ["garbage line"])
        #expect(info.missingRequiredKeys == ["SYMBOL(init_top_pgt)"])
        #expect(info.symbol("nope") == nil)
    }

    /// Found by the image fuzzer: trimming a line's NUL padding was
    /// quadratic (200,000 NULs took minutes); it must be linear.
    @Test func longNulPaddingIsLinear() {
        let padding = String(repeating: "\0", count: 100_000)
        let start = ContinuousClock.now
        let info = VmcoreInfo(text: "PAGESIZE=4096" + padding + " \r" + padding + "\n" + padding + "OSRELEASE=6.1.0é" + padding)
        let elapsed = ContinuousClock.now - start
        #expect(info.pageSize == 4096)
        #expect(info.osRelease == "6.1.0é")
        #expect(info.malformedLines.isEmpty)
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }
}
