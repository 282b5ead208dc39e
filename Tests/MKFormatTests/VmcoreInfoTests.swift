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
        #expect(info.missingKeys(["KERNELOFFSET", "NUMBER(phys_base)", "SYMBOL(init_top_pgt)"]) == ["SYMBOL(init_top_pgt)"])
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

/// Values that are there but unusable are named as such, quoting them.
@Suite struct VmcoreInfoValueTests {
    @Test func pageSizeMustBeAPageSize() {
        for good in ["4096", "16384", "65536", "1024", "262144"] {
            let info = VmcoreInfo(text: "PAGESIZE=\(good)\n")
            #expect(info.pageSize == UInt64(good))
            #expect(info.pageSizeProblem == nil)
            #expect(info.valueProblems.isEmpty)
        }
        let cases: [(String, String)] = [
            ("0", "PAGESIZE=0 is not a power of two"),
            ("1", "PAGESIZE=1 is outside the page sizes Linux uses (1024 to 262144)"),
            ("3000", "PAGESIZE=3000 is not a power of two"),
            ("-4096", "PAGESIZE=\"-4096\" does not parse as a decimal number"),
            ("1099511627776", "PAGESIZE=1099511627776 is outside the page sizes Linux uses"),
            ("99999999999999999999999", "PAGESIZE=\"99999999999999999999999\" does not parse"),
            ("4k", "PAGESIZE=\"4k\" does not parse as a decimal number"),
        ]
        for (value, message) in cases {
            let info = VmcoreInfo(text: "OSRELEASE=6.1\nPAGESIZE=\(value)\n")
            #expect(info.pageSize == nil, "PAGESIZE=\(value)")
            #expect(info.pageSizeProblem?.contains(message) == true, "\(info.pageSizeProblem ?? "nil")")
            #expect(info.valueProblems.count == 1)
            // Present, so not reported as missing.
            #expect(!info.missingKeys().contains("PAGESIZE"))
        }
        #expect(VmcoreInfo(text: "OSRELEASE=6.1\n").pageSizeProblem == nil)
    }

    @Test func unparseableKeysAreQuoted() {
        let info = VmcoreInfo(text: """
            KERNELOFFSET=zz12
            NUMBER(phys_base)=0x10
            SYMBOL(init_top_pgt)=ffffffffa280a000
            PAGESIZE=4096
            CRASHTIME=soon
            """)
        #expect(info.kernelOffset == nil)
        #expect(info.missingKeys() == ["OSRELEASE"])
        #expect(info.valueProblems == [
            "VMCOREINFO KERNELOFFSET=\"zz12\" does not parse as a hex number",
            "VMCOREINFO NUMBER(phys_base)=\"0x10\" does not parse as a decimal number",
            "VMCOREINFO CRASHTIME=\"soon\" does not parse as a decimal number",
        ])
    }
}
