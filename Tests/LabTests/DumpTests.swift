import Testing
import Foundation
import MKFormat

/// `dump memory|physical|value` and `save vmcore` on the lab's dumps, checked
/// byte for byte against drgn 0.3.0 (scripts/drgn-venv), and their failures.
@Suite(.serialized) struct DumpTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "mkdbg-dump-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs a drgn script with `prog` opened on `core`; returns stdout.
    func drgn(_ core: String, vmlinux: String, _ body: String) throws -> String {
        let script = """
        import drgn, sys
        prog = drgn.Program()
        prog.set_core_dump(\(pythonString(core)))
        prog.load_debug_info([\(pythonString(vmlinux))])

        """ + body
        let r = try runProgram(try drgnPython(), ["-c", script])
        guard r.status == 0 else {
            throw FixtureError("drgn failed on \(core): \(String(decoding: r.err, as: UTF8.self))")
        }
        return String(decoding: r.out, as: UTF8.self)
    }

    func pythonString(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    func bytes(_ path: String) throws -> [UInt8] {
        guard let d = FileManager.default.contents(atPath: path) else { throw FixtureError("cannot read \(path)") }
        return [UInt8](d)
    }

    /// The JSON object of each --json output line.
    func jsonLines(_ out: String) throws -> [[String: Any]] {
        try out.split(separator: "\n").map {
            guard let o = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
                throw FixtureError("not a JSON object: \($0)")
            }
            return o
        }
    }

    /// Names in `dir` that look like an abandoned temporary file.
    func leftovers(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".mkdbg-") }
    }

    // MARK: dumps equal drgn's reads

    @Test func dumpsEqualDrgnByteForByte() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runMkdbg(["-c", fx.elf, "--json",
                              "-e", "dump memory \(dir)/task.bin &init_task &init_task + 1",
                              "-e", "dump physical \(dir)/phys.bin 0x1000000 0x1100000",
                              "-e", "dump value \(dir)/uts.bin init_uts_ns",
                              "-e", "dump memory \(dir)/direct.bin page_offset_base+0x1000000 page_offset_base+0x1100000"])
        #expect(r.status == 0, "stderr: \(r.err)\nstdout: \(r.out)")
        let objects = try jsonLines(r.out)
        try #require(objects.count == 4)
        #expect(objects.allSatisfy { $0["ok"] as? Bool == true })
        let taskStart = try #require(objects[0]["start"] as? String)
        let taskSize = try #require(objects[0]["size"] as? Int)
        #expect(objects[1]["kind"] as? String == "physical")
        #expect(objects[2]["type"] as? String == "struct uts_namespace")
        // The fields docs/json.md promises.
        for o in objects {
            for key in ["file", "kind", "start", "end"] { #expect(o[key] is String, "\(key) in \(o)") }
            for key in ["size", "seconds"] { #expect(o[key] is NSNumber, "\(key) in \(o)") }
        }
        #expect(objects[2]["expression"] as? String == "init_uts_ns")

        let script = """
        task = prog['init_task']
        print(hex(task.address_), drgn.sizeof(task))
        open(\(pythonString(dir + "/drgn-task.bin")), 'wb').write(prog.read(task.address_, drgn.sizeof(task)))
        open(\(pythonString(dir + "/drgn-phys.bin")), 'wb').write(prog.read(0x1000000, 0x100000, True))
        open(\(pythonString(dir + "/drgn-uts.bin")), 'wb').write(prog['init_uts_ns'].to_bytes_())
        base = prog['page_offset_base'].value_()
        open(\(pythonString(dir + "/drgn-direct.bin")), 'wb').write(prog.read(base + 0x1000000, 0x100000))
        """
        let out = try drgn(fx.elf, vmlinux: fx.vmlinux, script)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "\(taskStart) \(taskSize)")

        for name in ["task", "phys", "uts", "direct"] {
            let mine = try bytes("\(dir)/\(name).bin")
            let theirs = try bytes("\(dir)/drgn-\(name).bin")
            #expect(mine.count == theirs.count, "\(name): \(mine.count) bytes, drgn \(theirs.count)")
            #expect(mine == theirs, "\(name).bin differs from drgn's read")
        }
        // The direct map at +16 MiB is physical 16 MiB.
        #expect(try bytes("\(dir)/direct.bin") == bytes("\(dir)/phys.bin"))
        // The release string sits inside the dumped uts_namespace.
        let uts = try bytes("\(dir)/uts.bin")
        #expect(String(decoding: uts, as: UTF8.self).contains(fx.release))
        #expect(try leftovers(dir).isEmpty)
    }

    @Test func kdumpDumpsEqualElfDumps() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, image) in [("elf", fx.elf), ("kdump", fx.kdump), ("flat", fx.kdumpFlat)] {
            let r = try runMkdbg(["-c", image, "-e", "dump memory \(dir)/\(name)-task.bin &init_task &init_task + 1",
                                  "-e", "dump binary physical \(dir)/\(name)-phys.bin 0x2000000 0x2000000+0x40000",
                                  "-e", "dump value \(dir)/\(name)-comm.bin init_task.comm"])
            #expect(r.status == 0, "\(name): \(r.err)")
        }
        for part in ["task", "phys", "comm"] {
            let elf = try bytes("\(dir)/elf-\(part).bin")
            #expect(try bytes("\(dir)/kdump-\(part).bin") == elf, "\(part)")
            #expect(try bytes("\(dir)/flat-\(part).bin") == elf, "\(part)")
        }
        #expect(try bytes("\(dir)/elf-comm.bin").starts(with: Array("swapper/0".utf8)))
    }

    // MARK: save vmcore

    @Test func savedVmcoreFromKdumpOpensInDrgnAndMkdbg() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = dir + "/saved.elf"
        let r = try runMkdbg(["-c", fx.kdump, "--json", "-e", "save vmcore \(saved)"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(!r.err.contains("\r"), "no progress bar when standard error is not a terminal")
        let o = try #require(try jsonLines(r.out).first)
        #expect(o["ok"] as? Bool == true)
        #expect(o["source_format"] as? String == "kdump-compressed")
        #expect(try leftovers(dir).isEmpty)

        // Standard ELF vmcore: ET_CORE, a PT_NOTE first, physical PT_LOADs
        // covering what the kdump holds, page-aligned, filesz == memsz.
        let source = try ImageOpener.open(fx.kdump)
        let core = try ElfCore(path: saved)
        #expect(core.style == .vmcore)
        #expect(core.report().problems.isEmpty, "\(core.report().problems)")
        #expect(core.programHeaders.first?.type == ProgramHeader.ptNote)
        let loads = core.programHeaders.filter { $0.type == ProgramHeader.ptLoad }
        #expect(loads.map { PhysicalRange(start: $0.physicalAddress, size: $0.memorySize) } == source.physicalRanges)
        #expect(loads.allSatisfy { $0.offset % 4096 == 0 && $0.fileSize == $0.memorySize && $0.virtualAddress == 0 })
        #expect(core.notes.filter { $0.name == "VMCOREINFO" }.map(\.descriptor)
                == source.notes.filter { $0.name == "VMCOREINFO" }.map(\.descriptor))
        #expect(core.prStatus.count == 2)
        #expect(core.prStatus == source.prStatus)

        // Sparse: fewer blocks on disk than its apparent size.
        let attributes = try FileManager.default.attributesOfItem(atPath: saved)
        let apparent = try #require(attributes[.size] as? Int)
        var st = stat()
        #expect(stat(saved, &st) == 0)
        let onDisk = Int(st.st_blocks) * 512
        #expect(onDisk < apparent, "on disk \(onDisk) bytes, apparent \(apparent)")
        #expect(apparent >= 512 << 20)

        // drgn reads it: init_task's name and the guest's marker in the log.
        let out = try drgn(saved, vmlinux: fx.vmlinux, """
        from drgn.helpers.linux.printk import get_dmesg
        print(prog['init_task'].comm.string_().decode())
        print('marker found' if \(pythonString(fx.marker)).encode() in get_dmesg(prog) else 'marker missing')
        """)
        #expect(out == "swapper/0\nmarker found\n", "drgn said: \(out)")

        // And mkdbg reopens its own file.
        let back = try runMkdbg(["-c", saved, "-e", "p init_task.comm", "-e", "x/s init_uts_ns.name.release"])
        #expect(back.status == 0, "stderr: \(back.err)")
        #expect(back.out.contains("$1 = \"swapper/0\\000"))
        #expect(back.out.contains("\"\(fx.release)\""))
    }

    @Test func savePhysicalRangesFromElf() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let part = dir + "/part.elf"
        // The second range runs past the end of RAM: it is cut to what exists.
        let r = try runMkdbg(["-c", fx.elf, "--json", "-e",
                              "save vmcore \(part) --physical 0x1000000-0x1100000 --physical 0x1fff0000-0x30000000",
                              "-e", "dump physical \(dir)/orig.bin 0x1000000 0x1100000"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let o = try #require(try jsonLines(r.out).first)
        for key in ["file", "source", "source_format"] { #expect(o[key] is String, "\(key) in \(o)") }
        for key in ["memory_bytes", "file_size", "disk_bytes", "pages_written", "zero_pages", "seconds"] {
            #expect(o[key] is NSNumber, "\(key) in \(o)")
        }
        #expect((o["notes"] as? [[String: Any]])?.map { $0["name"] as? String } == ["CORE", "CORE", "QEMU", "QEMU", "VMCOREINFO"])
        #expect((o["warnings"] as? [String])?.isEmpty == true)
        #expect(o["memory_bytes"] as? Int == 0x110000)
        let segments = try #require(o["segments"] as? [[String: String]])
        #expect(segments == [["start": "0x1000000", "end": "0x1100000"], ["start": "0x1fff0000", "end": "0x20000000"]])
        let core = try ElfCore(path: part)
        #expect(core.physicalRanges == [PhysicalRange(start: 0x1000000, size: 0x100000),
                                        PhysicalRange(start: 0x1fff0000, size: 0x10000)])

        let back = try runMkdbg(["-c", part, "-e", "dump physical \(dir)/back.bin 0x1000000 0x1100000",
                                 "-e", "x/2xg -p 0x1fff0000", "-e", "x/xg -p 0x2000000"])
        #expect(back.status != 0)  // the last read is outside the saved ranges
        #expect(back.err.contains("cannot read physical address 0x2000000"), "stderr: \(back.err)")
        #expect(back.out.contains("0x1fff0000:\t0x"))
        #expect(try bytes(dir + "/back.bin") == bytes(dir + "/orig.bin"))

        let none = try runMkdbg(["-c", fx.elf, "-e", "save vmcore \(dir)/none.elf --physical 0x30000000-0x40000000"])
        #expect(none.status != 0)
        #expect(none.err.contains("holds none of the requested physical memory"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/none.elf"))
        #expect(try leftovers(dir).isEmpty)
    }

    // MARK: the writer alone

    /// An in-memory `CoreOutput` that records which bytes were written.
    final class MemoryOutput: CoreOutput {
        var bytes: [UInt8] = []
        var written = 0
        func write(_ b: UnsafeRawBufferPointer, at offset: UInt64) throws {
            let end = Int(offset) + b.count
            if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
            bytes.replaceSubrange(Int(offset)..<end, with: b)
            written += b.count
        }
        func finish(size: UInt64) throws {
            if bytes.count < Int(size) { bytes += [UInt8](repeating: 0, count: Int(size) - bytes.count) }
        }
    }

    final class FileOutput: CoreOutput {
        let fd: Int32
        init(_ path: String) throws {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw FixtureError("cannot create \(path)") }
        }
        deinit { close(fd) }
        func write(_ b: UnsafeRawBufferPointer, at offset: UInt64) throws {
            guard pwrite(fd, b.baseAddress, b.count, off_t(offset)) == b.count else { throw FixtureError("short write") }
        }
        func finish(size: UInt64) throws { guard ftruncate(fd, off_t(size)) == 0 else { throw FixtureError("ftruncate") } }
    }

    /// Memory whose every byte is a function of its address (zero in odd pages).
    static func pattern(_ address: UInt64, _ buffer: UnsafeMutableRawBufferPointer) {
        for i in 0..<buffer.count {
            let a = address + UInt64(i)
            buffer[i] = (a / 4096) % 2 == 1 ? 0 : UInt8(truncatingIfNeeded: a &* 2654435761 >> 7) | 1
        }
    }

    @Test func writerLaysOutUnalignedRangesAndNotes() throws {
        let notes = [ElfNote(name: "CORE", type: 1, descriptor: [UInt8](repeating: 7, count: 336), offset: 0),
                     ElfNote(name: "VMCOREINFO", type: 0, descriptor: Array("OSRELEASE=x\nPAGESIZE=4096\n".utf8), offset: 0)]
        let loads = [ElfCoreWriter.Load(physicalAddress: 0x1234, size: 0x3000),
                     ElfCoreWriter.Load(physicalAddress: 0x10000, size: 0x2001)]
        let writer = try ElfCoreWriter(notes: notes, loads: loads)
        let out = MemoryOutput()
        var reported: [UInt64] = []
        let result = try writer.write(to: out, readPhysical: { Self.pattern($0, $1) }, progress: { reported.append($0) })
        #expect(reported.last == 0x5001)
        #expect(UInt64(out.bytes.count) == result.fileSize)
        #expect(result.memoryBytes == 0x5001)
        #expect(result.zeroPages > 0 && result.pagesWritten > 0)
        #expect(out.written < out.bytes.count, "zero pages were written")

        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/w.elf", contents: Data(out.bytes))
        let core = try ElfCore(path: dir + "/w.elf")
        #expect(core.report().problems.isEmpty, "\(core.report().problems)")
        #expect(core.notes.map(\.name) == ["CORE", "VMCOREINFO"])
        #expect(core.notes.map(\.descriptor) == notes.map(\.descriptor))
        #expect(core.physicalRanges == [PhysicalRange(start: 0x1234, size: 0x3000), PhysicalRange(start: 0x10000, size: 0x2001)])
        for ph in core.programHeaders where ph.type == ProgramHeader.ptLoad {
            #expect(ph.offset % 4096 == ph.physicalAddress % 4096)
            #expect(ph.fileSize == ph.memorySize)
        }
        for l in loads {
            var expected = [UInt8](repeating: 0, count: Int(l.size))
            expected.withUnsafeMutableBytes { Self.pattern(l.physicalAddress, $0) }
            #expect(try core.readPhysical(l.physicalAddress, count: Int(l.size)) == expected)
        }
        #expect(throws: MemoryError.self) { try core.readPhysical(0x1233, count: 1) }
        #expect(throws: MemoryError.self) { try core.readPhysical(0x12001, count: 1) }
        // Overlapping or empty ranges are refused.
        #expect(throws: FormatError.self) { try ElfCoreWriter(notes: [], loads: [.init(physicalAddress: 0, size: 0x2000), .init(physicalAddress: 0x1000, size: 0x1000)]) }
        #expect(throws: FormatError.self) { try ElfCoreWriter(notes: [], loads: [.init(physicalAddress: 0, size: 0)]) }
    }

    @Test func writerUsesPnXnumForManyRanges() throws {
        // 70,000 ranges need more program headers than e_phnum holds (PN_XNUM).
        let loads = (0..<70_000).map { ElfCoreWriter.Load(physicalAddress: UInt64($0) * 0x2000, size: 0x1000) }
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/many.elf"
        let writer = try ElfCoreWriter(notes: [ElfNote(name: "VMCOREINFO", type: 0, descriptor: Array("PAGESIZE=4096\n".utf8), offset: 0)],
                                       loads: loads)
        try writer.write(to: try FileOutput(path)) { address, buffer in
            // Zero everywhere but every 10,000th range: the file stays small on disk.
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            if (address / 0x2000) % 10_000 == 0 { buffer.storeBytes(of: address | 1, toByteOffset: 8, as: UInt64.self) }
        }
        let head = try bytes(path).prefix(64)
        #expect(head[56] == 0xff && head[57] == 0xff)
        let core = try ElfCore(path: path)
        #expect(core.physicalRanges.count == 70_000)
        #expect(core.programHeaders.count == 70_001)
        let v = try core.readPhysical(60_000 * 0x2000 + 8, count: 8)
        #expect(v == withUnsafeBytes(of: (UInt64(60_000 * 0x2000) | 1).littleEndian) { Array($0) })
        #expect(try core.readPhysical(60_001 * 0x2000 + 8, count: 8) == [UInt8](repeating: 0, count: 8))
    }

    // MARK: bad input

    @Test func badInputGivesClearErrorsAndLeavesNothingBehind() throws {
        let fx = try LabFixture.load("running")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        // An existing file a failed dump must leave as it was.
        try "old contents".write(toFile: dir + "/keep.bin", atomically: false, encoding: .utf8)

        let cases: [(command: String, message: String)] = [
            ("dump memory \(dir)/unmapped.bin 0xffffc9ffffff0000 0xffffc9ffffff1000",
             "cannot read virtual address 0xffffc9ffffff0000"),
            // Readable at first, then past the end of RAM: the first bad address, and no file.
            ("dump physical \(dir)/keep.bin 0x1ff00000 0x20100000",
             "cannot read physical address 0x20000000: not present in \(fx.elf); nothing written to \(dir)/keep.bin"),
            ("dump memory /proc/nope/x &init_task &init_task + 1", "cannot write /proc/nope/x"),
            ("dump memory \(dir)/sub &init_task &init_task + 1", "\(dir)/sub: is a directory"),
            ("dump memory \(dir)/missing/x.bin &init_task &init_task + 1", "directory \(dir)/missing: No such file or directory"),
            ("dump memory \(dir)/back.bin &init_task + 1 &init_task", "is not above START"),
            ("dump physical \(dir)/same.bin 0x1000 0x1000", "is not above START"),
            ("dump memory \(dir)/huge.bin 0 0x1000000000000", "more than the 64 GiB a dump may write"),
            ("dump value \(dir)/v.bin no_such_variable", "no_such_variable"),
            ("dump ihex memory \(dir)/h.hex 0 1", "the ihex format is not supported"),
            ("save vmcore \(dir)/sub", "\(dir)/sub: is a directory"),
            ("save vmcore /proc/nope/x.elf --physical 0-0x1000", "cannot write /proc/nope/x.elf"),
            ("save vmcore \(dir)/r.elf --physical 0x2000-0x1000", "is not above START"),
            ("save core \(dir)/r.elf", "mkdbg saves a vmcore"),
        ]
        // One process, one JSON object per command: each failed with its message.
        let r = try runMkdbg(["-c", fx.elf, "--json"] + cases.flatMap { ["-e", $0.command] })
        #expect(r.status != 0)
        let objects = try jsonLines(r.out)
        try #require(objects.count == cases.count, "stdout: \(r.out)")
        for (c, o) in zip(cases, objects) {
            #expect(o["ok"] as? Bool == false, "\(c.command) succeeded")
            let error = (o["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(error.contains(c.message), "\(c.command): \(error)")
        }
        #expect(try String(contentsOfFile: dir + "/keep.bin", encoding: .utf8) == "old contents")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["keep.bin", "sub"], "left behind: \(names)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub").isEmpty)

        // Alone and as text: the message on standard error, exit status 1.
        for c in cases.prefix(4) {
            let one = try runMkdbg(["-c", fx.elf, "-e", c.command])
            #expect(one.status == 1, "\(c.command): status \(one.status)")
            #expect(one.err.contains(c.message), "\(c.command): \(one.err)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["keep.bin", "sub"])
    }
}
