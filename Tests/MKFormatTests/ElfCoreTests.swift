import Testing
import MKFormat

@Suite struct ElfCoreTests {
    let vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nKERNELOFFSET=1e000000\nNUMBER(phys_base)=-545259520\nSYMBOL(init_top_pgt)=ffffffff9f00a000\n"

    func sample(_ dir: TempDir) -> (String, [UInt8], [UInt8]) {
        let a = pseudoRandomBytes(8192, seed: 1)
        let b = pseudoRandomBytes(4096, seed: 2)
        var builder = ElfCoreBuilder()
        builder.notes = [("VMCOREINFO", 0, Array(vmcoreinfo.utf8)), ("CORE", 1, [UInt8](repeating: 0, count: 336))]
        builder.loads = [
            .init(vaddr: 0, paddr: 0x1000, data: a),
            // memsz beyond filesz reads as zeros
            .init(vaddr: 0, paddr: 0x3000, data: b, memsz: 0x2000),
            .init(vaddr: 0, paddr: 0x10000, data: pseudoRandomBytes(4096, seed: 3)),
        ]
        return (dir.write("core", builder.build()), a, b)
    }

    @Test func readsPhysicalAcrossSegments() throws {
        let dir = TempDir()
        let (path, a, b) = sample(dir)
        let core = try ElfCore(path: path)
        #expect(core.style == .vmcore)
        #expect(core.formatName == "ELF vmcore")
        #expect(core.physicalRanges == [PhysicalRange(start: 0x1000, size: 0x2000), PhysicalRange(start: 0x3000, size: 0x2000), PhysicalRange(start: 0x10000, size: 0x1000)])
        #expect(try core.readPhysical(0x1000, count: 16) == Array(a[0..<16]))
        // crosses from the first segment into the second
        #expect(try core.readPhysical(0x2ff8, count: 16) == Array(a[8184..<8192]) + Array(b[0..<8]))
        // p_filesz < p_memsz: the tail is zeros
        #expect(try core.readPhysical(0x3ffc, count: 8) == Array(b[4092..<4096]) + [0, 0, 0, 0])
        #expect(try core.readPhysical(0x4800, count: 4) == [0, 0, 0, 0])
    }

    @Test func unmappedPhysicalAddressIsAnError() throws {
        let dir = TempDir()
        let (path, _, _) = sample(dir)
        let core = try ElfCore(path: path)
        #expect(throws: MemoryError.physicalNotPresent(address: 0x5000, image: path)) {
            try core.readPhysical(0x5000, count: 1)
        }
        // a read running off the end of the last range names the first missing byte
        #expect(throws: MemoryError.physicalNotPresent(address: 0x11000, image: path)) {
            try core.readPhysical(0x10ff0, count: 32)
        }
        let e = MemoryError.physicalNotPresent(address: 0x5000, image: path)
        #expect(e.description.contains("0x5000"))
    }

    @Test func parsesNotesAndVmcoreInfo() throws {
        let dir = TempDir()
        let (path, _, _) = sample(dir)
        let core = try ElfCore(path: path)
        #expect(core.notes.count == 2)
        let info = try #require(core.vmcoreInfo)
        #expect(info.osRelease == "6.1.0-test")
        #expect(info.kernelOffset == 0x1e000000)
        #expect(info.physBase == -545259520)
        #expect(info.symbol("init_top_pgt") == 0xffffffff9f00a000)
        #expect(info.pageSize == 4096)
        #expect(core.prStatus.count == 1)
        #expect(core.report().problems.isEmpty)
    }

    @Test func kcoreStyleReadsVirtualSegments() throws {
        let dir = TempDir()
        let ram = pseudoRandomBytes(4096, seed: 9)
        var builder = ElfCoreBuilder()
        builder.loads = [
            .init(vaddr: 0xffff888000100000, paddr: 0x100000, data: ram),
            .init(vaddr: 0xffffc90000000000, paddr: UInt64.max, data: [1, 2, 3, 4]),
        ]
        let core = try ElfCore(path: dir.write("kcore", builder.build()))
        #expect(core.style == .kcore)
        #expect(core.physicalRanges == [PhysicalRange(start: 0x100000, size: 4096)])
        var out = [UInt8](repeating: 0, count: 4)
        try out.withUnsafeMutableBytes { try core.readVirtualDirect(0xffffc90000000000, into: $0) }
        #expect(out == [1, 2, 3, 4])
        #expect(try core.readPhysical(0x100010, count: 4) == Array(ram[16..<20]))
        // no VMCOREINFO: reported, not fatal
        #expect(core.report().problems.contains { $0.contains("VMCOREINFO") })
    }

    @Test func truncatedSegmentIsReportedAndReadsFailClearly() throws {
        let dir = TempDir()
        var builder = ElfCoreBuilder()
        builder.loads = [.init(vaddr: 0, paddr: 0, data: pseudoRandomBytes(8192, seed: 4))]
        let full = builder.build()
        let path = dir.write("cut", Array(full.dropLast(4096)))
        let core = try ElfCore(path: path)
        #expect(core.report().problems.contains { $0.contains("truncated") })
        #expect(try core.readPhysical(0, count: 16).count == 16)
        do {
            _ = try core.readPhysical(0x1800, count: 16)
            Issue.record("expected an error")
        } catch let e as MemoryError {
            #expect(e.description.contains("truncated"))
        }
    }

    @Test func badInputsGiveClearErrors() throws {
        let dir = TempDir()
        // empty file
        let empty = dir.write("empty", [])
        #expect(throws: FormatError.self) { try ImageOpener.open(empty) }
        do { _ = try ImageOpener.open(empty) } catch { #expect("\(error)".contains("empty file")) }
        // random bytes
        let random = dir.write("random", pseudoRandomBytes(4096, seed: 7))
        do { _ = try ImageOpener.open(random); Issue.record("expected an error") } catch let e as FormatError {
            #expect(e.kind == .badMagic)
            #expect(e.description.contains(random))
        }
        // a non-core ELF (an executable)
        var exe = ElfCoreBuilder()
        exe.type = 2
        let exePath = dir.write("exe", exe.build())
        do { _ = try ImageOpener.open(exePath); Issue.record("expected an error") } catch let e as FormatError {
            #expect(e.description.contains("expected a core file"))
        }
        // headers cut short
        let (path, _, _) = sample(dir)
        let whole = try FileSource(path: path).read(at: 0, count: 100)
        let cut = dir.write("cut-headers", whole)
        do { _ = try ImageOpener.open(cut); Issue.record("expected an error") } catch let e as FormatError {
            #expect(e.kind == .truncated)
            #expect(e.description.contains("program headers"))
        }
        // a tiny ELF-looking file
        let tiny = dir.write("tiny", [0x7f, 0x45, 0x4c, 0x46, 2, 1])
        do { _ = try ImageOpener.open(tiny); Issue.record("expected an error") } catch let e as FormatError {
            #expect(e.kind == .truncated)
        }
        // a directory
        #expect(throws: FormatError.self) { try ImageOpener.open(dir.path) }
    }

    @Test func corruptNoteIsAnError() throws {
        let dir = TempDir()
        var builder = ElfCoreBuilder()
        builder.notes = [("VMCOREINFO", 0, Array("OSRELEASE=x\n".utf8))]
        var bytes = builder.build()
        // descsz of the first note (at 64 + 56 + 4) set huge
        let at = 64 + 56 + 4
        bytes.replaceSubrange(at..<(at + 4), with: ElfCoreBuilder.le(UInt32(0x7fff_0000)))
        let path = dir.write("badnote", bytes)
        do { _ = try ElfCore(path: path); Issue.record("expected an error") } catch let e as FormatError {
            #expect(e.kind == .corrupt)
            #expect(e.offset == 120)
        }
    }
}
