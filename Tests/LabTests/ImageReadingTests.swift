import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo

/// `struct new_utsname` fields are 65 bytes each: release is the third.
let utsReleaseOffset: UInt64 = 130
let utsVersionOffset: UInt64 = 195

@Suite(.serialized) struct ImageReadingTests {
    @Test(arguments: ["running", "panicked"])
    func releaseAtInitUtsNsMatchesVmcoreInfoAndPackage(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let t = try fx.target()
        let base = try t.address(of: "init_uts_ns")
        let release = try t.memory.readCString(base + utsReleaseOffset, limit: 65)
        #expect(release == fx.release)
        #expect(release == t.image.vmcoreInfo?.osRelease)
        // The version string carries the Debian package version.
        let version = try t.memory.readCString(base + utsVersionOffset, limit: 65)
        #expect(version.contains(fx.packageVersion))
    }

    @Test func vmlinuxMatchesByBuildId() throws {
        let fx = try LabFixture.load("running")
        let t = try fx.target()
        #expect(t.vmlinux?.buildId == fx.buildId)
        #expect(t.symbolProblem == nil)
        #expect(t.image.vmcoreInfo?.buildId.map { fx.buildId.hasPrefix($0) } == true)
    }

    @Test func findsVmlinuxInSymbolStoreWithoutDashS() throws {
        let fx = try LabFixture.load("running")
        // The project's symbols/ store, as scripts/lab fetch fills it.
        let root = LabFixture.projectRoot + "/symbols"
        var options = Target.Options()
        options.store = SymbolStore(roots: [root])
        let t = try Target(imagePath: fx.elf, options: options)
        #expect(t.vmlinux?.buildId == fx.buildId)
    }

    @Test func markerIsInMemory() throws {
        let fx = try LabFixture.load("running")
        let image = try ImageOpener.open(fx.elf)
        let needle = Array(fx.marker.utf8)
        #expect(needle.count > 10)
        var found: UInt64?
        let chunk = 1 << 20
        outer: for r in image.physicalRanges {
            var at = r.start
            while at < r.end {
                let n = Int(min(UInt64(chunk + needle.count), r.end - at))
                let bytes = try image.readPhysical(at, count: n)
                if let i = find(needle, in: bytes) { found = at + UInt64(i); break outer }
                at += UInt64(chunk)
            }
        }
        #expect(found != nil, "marker \(fx.marker) not found in \(fx.elf)")
    }

    @Test(arguments: ["running", "panicked"])
    func sameBytesFromElfKdumpAndFlattened(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let elf = try fx.target(fx.elf)
        let kdump = try fx.target(fx.kdump)
        let flat = try fx.target(fx.kdumpFlat)
        #expect(kdump.image.formatName.hasPrefix("kdump"))
        #expect(flat.image.formatName.contains("flattened"))
        var addresses = try ["init_uts_ns", "init_task", "linux_banner", "jiffies_64", "init_top_pgt"].map { try elf.address(of: $0) }
        // A direct-map address too.
        if let base = elf.memory.layout?.pageOffsetBase { addresses.append(base + 0x100000) }
        for a in addresses {
            let x = try elf.memory.readVirtual(a, count: 512)
            #expect(try kdump.memory.readVirtual(a, count: 512) == x, "kdump differs at \(hex(a))")
            #expect(try flat.memory.readVirtual(a, count: 512) == x, "flattened kdump differs at \(hex(a))")
        }
        #expect(kdump.image.vmcoreInfo == elf.image.vmcoreInfo)
    }

    @Test func pageTableWalkAgreesWithDirectMapAndTextMap() throws {
        let fx = try LabFixture.load("running")
        let t = try fx.target()
        let layout = try #require(t.memory.layout)
        let base = try #require(layout.pageOffsetBase)
        #expect(base >= 0xff00_0000_0000_0000)
        // Kernel text: the walk must land on the same physical page as the text map.
        let uts = try t.address(of: "init_uts_ns")
        let byText = try t.memory.translate(uts)
        #expect(byText.method == .kernelText)
        let byWalk = try t.memory.walk(uts)
        #expect(byWalk.physical == byText.physical)
        // Direct map: the walk of page_offset_base + phys gives phys back, and the bytes agree.
        let va = base + byText.physical
        let walked = try t.memory.walk(va)
        #expect(walked.physical == byText.physical)
        let viaDirect = try t.memory.readVirtual(va, count: 256)
        let viaText = try t.memory.readVirtual(uts, count: 256)
        let viaPhys = try t.memory.readPhysical(walked.physical, count: 256)
        #expect(viaDirect == viaText)
        #expect(viaPhys == viaText)
    }

    @Test func symbolizeInsideFunction() throws {
        let fx = try LabFixture.load("running")
        let t = try fx.target()
        let symbols = try t.requireSymbols()
        for name in ["schedule", "do_sys_open", "panic", "start_kernel"] {
            guard let s = symbols.lookup(name) else { Issue.record("no \(name)"); continue }
            #expect(s.kind == .function)
            let inside = s.address + min(0x10, max(s.size, 1) - 1)
            let (found, off) = try #require(symbols.symbolize(inside))
            #expect(found.name == name)
            #expect(off == inside - s.address)
        }
        // KASLR: relocated addresses differ from the vmlinux's by KERNELOFFSET.
        #expect(symbols.kaslrOffset == t.image.vmcoreInfo?.kernelOffset)
    }

    @Test func unmappedAddressIsAnError() throws {
        let fx = try LabFixture.load("running")
        let t = try fx.target()
        do {
            _ = try t.memory.readVirtual(0xffff_c9ff_ffff_0000, count: 8)
            Issue.record("expected an error")
        } catch let e as MemoryError {
            #expect(e.description.contains("0xffffc9ffffff0000"))
        }
        // Physical beyond the guest's 512 MiB.
        #expect(throws: MemoryError.self) { try t.memory.readPhysical(0x40_0000_0000, count: 8) }
    }
}

func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard let first = needle.first, haystack.count >= needle.count else { return nil }
    var i = 0
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == first && Array(haystack[i..<(i + needle.count)]) == needle { return i }
        i += 1
    }
    return nil
}
