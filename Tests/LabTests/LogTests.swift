import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo
import MKKernel
@testable import MKCommands

/// `log` (`dmesg`) on the lab's dumps: the printk ring buffer of a real 6.1 kernel.
@Suite(.serialized) struct LogTests {
    static let stamp = #/^\[[ 0-9]{5,}\.[0-9]{6}\] /#

    func log(_ fx: LabFixture, _ path: String? = nil, _ command: String = "log") throws -> [String] {
        let session = Session(target: try fx.target(path))
        return try session.execute(command).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test(arguments: ["running", "panicked"], ["elf", "kdump", "kdump-flat"])
    func markerLineIsInTheLogOnEveryFormat(_ name: String, _ format: String) throws {
        let fx = try LabFixture.load(name)
        let lines = try log(fx, fx.directory + "/vmcore." + format)
        // The guest wrote the marker to /dev/kmsg: one record, text exactly the marker.
        let hits = lines.filter { $0.hasSuffix("] " + fx.marker) }
        #expect(hits.count == 1, "marker \(fx.marker) in \(lines.count) lines of \(name)/\(format)")
        #expect(hits.allSatisfy { $0.firstMatch(of: Self.stamp) != nil })
        #expect(lines.count > 300)
        #expect(lines.allSatisfy { $0.firstMatch(of: Self.stamp) != nil }, "a line without a dmesg timestamp")
        #expect(lines.first?.contains("] Linux version \(fx.release) ") == true)
        #expect(!lines.contains { $0.hasPrefix("warning:") })
    }

    @Test func everyFormatGivesTheSameLog() throws {
        let fx = try LabFixture.load("panicked")
        let elf = try log(fx, fx.elf)
        #expect(try log(fx, fx.kdump) == elf)
        #expect(try log(fx, fx.kdumpFlat) == elf)
    }

    @Test func lastFiveRecordsAreTheLastFiveLines() throws {
        let fx = try LabFixture.load("running")
        let all = try log(fx)
        let five = try log(fx, nil, "log -l 5")
        #expect(five.count == 5)
        #expect(five == Array(all.suffix(5)))
        #expect(five.last?.hasSuffix(fx.marker) == true)
        #expect(try log(fx, nil, "dmesg -l 1") == [all.last!])
        #expect(try log(fx, nil, "log -l0") == [""])
    }

    @Test func panickedLogHasThePanic() throws {
        let fx = try LabFixture.load("panicked")
        let lines = try log(fx)
        let panic = lines.firstIndex { $0.contains("] Kernel panic - not syncing: sysrq triggered crash") }
        let sysrq = lines.firstIndex { $0.contains("] sysrq: Trigger a crash") }
        #expect(panic != nil && sysrq != nil)
        if let panic, let sysrq { #expect(sysrq < panic) }
        #expect(lines.contains { $0.contains("sysrq_handle_crash+") })
        // The running dump has no panic.
        #expect(try !log(LabFixture.load("running")).contains { $0.contains("Kernel panic") })
    }

    @Test func multiLineRecordGetsItsTimestampOnEveryLine() throws {
        let fx = try LabFixture.load("running")
        let lines = try log(fx)
        // 6.1's trace clock warning is one record of four lines; 6.12's boot logs none such.
        guard let first = lines.firstIndex(where: { $0.hasSuffix("] Unstable clock detected, switching default tracing clock to \"global\"") }) else {
            if !fx.atLeast(6, 12) { Issue.record("no trace clock record") }
            return
        }
        let stamp = String(lines[first].prefix { $0 != "]" }) + "] "
        #expect(Array(lines[first...].prefix(4)) == [
            stamp + "Unstable clock detected, switching default tracing clock to \"global\"",
            stamp + "If you want to keep using the local clock, then add:",
            stamp + "  \"trace_clock=local\"",
            stamp + "on the kernel command line"])
    }

    @Test func optionsPrefixLevelsCallersAndDropTimestamps() throws {
        let fx = try LabFixture.load("running")
        // The marker came from /dev/kmsg: facility user (1), level warning (4), logged by a task.
        let raw = try log(fx, nil, "log -l 1 -L -c")
        #expect(raw.count == 1)
        #expect(raw[0].firstMatch(of: #/^<12>\[ +[0-9]+\.[0-9]{6}\]\[ *T[0-9]+\] MKDBG-MARKER /#) != nil, "\(raw)")
        #expect(try log(fx, nil, "log -l 1 -t") == [fx.marker])
        #expect(try log(fx, nil, "log -l 1 -t -x") == ["user  :warn  : " + fx.marker])
        let first = try log(fx, nil, "log -L -x -c -t -l 1000")
        #expect(first.first?.hasPrefix("<5>kern  :notice: [    T0] Linux version ") == true, "\(first.first ?? "")")
        let session = Session(target: try fx.target())
        #expect(throws: CommandError.self) { try session.execute("log -q") }
        #expect(throws: CommandError.self) { try session.execute("log -l") }
        #expect(throws: CommandError.self) { try session.execute("log -l -3") }
    }

    @Test func jsonHasRecordsAndWarnings() throws {
        let fx = try LabFixture.load("running")
        let r = try runMkdbg(["--json", "-c", fx.elf, "-e", "log -l 3"])
        #expect(r.status == 0, "\(r.err)")
        let object = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let records = object?["records"] as? [[String: Any]] ?? []
        #expect(records.count == 3)
        #expect((object?["warnings"] as? [Any])?.isEmpty == true)
        let last = records.last ?? [:]
        #expect(last["text"] as? String == fx.marker)
        #expect(last["facility"] as? Int == 1)
        #expect(last["level"] as? Int == 4)
        #expect((last["caller"] as? String)?.hasPrefix("T") == true)
        let seqs = records.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == 3 && seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1)
        #expect((records.first?["ts_nsec"] as? Int ?? 0) > 0)
    }

    /// The formatting rules on records made up here: `-C` joins a continuation to the line before
    /// only when the same caller logged it; control bytes and invalid UTF-8 print as \xNN;
    /// timestamps widen past five digits of seconds.
    @Test func formattingRules() throws {
        func record(_ seq: UInt64, _ text: String, cont: Bool = false, caller: PrintkCaller? = .thread(7), ts: UInt64 = 1_500_000) -> PrintkRecord {
            PrintkRecord(seq: seq, timestampNanoseconds: ts, level: 6, facility: 0, flags: cont ? 8 : 2, isContinuation: cont,
                         caller: caller, textBytes: Array(text.utf8))
        }
        let records = [record(0, "a"), record(1, "b", cont: true), record(2, "c", cont: true, caller: .cpu(1)), record(3, "d\ne")]
        func render(_ words: [String]) throws -> [String] {
            let options = try LogOptions(words)
            let f = DmesgFormatter(options: options)
            var lines: [String] = []
            for e in DmesgFormatter.entries(records, mergeContinuations: options.mergeContinuations) { f.appendLines(e, to: &lines) }
            return lines
        }
        #expect(try render([]) == ["[    0.001500] a", "[    0.001500] b", "[    0.001500] c", "[    0.001500] d", "[    0.001500] e"])
        #expect(try render(["-C", "-t"]) == ["ab", "c", "d", "e"])
        #expect(try render(["-C", "-c"]).prefix(2) == ["[    0.001500][    T7] ab", "[    0.001500][    C1] c"])
        #expect(DmesgFormatter.printable([0x41, 0x1b, 0xff, 0x09, 0xc3, 0xa9, 0x7f][...]) == "A\\x1b\\xff\té\\x7f")
        #expect(DmesgFormatter.timestamp(123_456_789_012_345) == "[123456.789012]")
        #expect(DmesgFormatter.timestamp(0) == "[    0.000000]")
    }

    /// A copy of the ELF dump with three records damaged in place: one
    /// descriptor zeroed, one filled with garbage, one printk_info with a
    /// text_len longer than its block. `log` warns about each, naming the
    /// descriptor, and prints every other record.
    @Test func damagedDescriptorsAreSkippedWithWarnings() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let kernel = try session.kernel()
        let good = try kernel.printkLog()
        #expect(good.warnings.isEmpty)
        let lines = try log(fx)
        #expect(good.records.count > 300)
        // Three single-line records whose text is on no other line.
        let unique = good.records.indices.filter { i in
            let r = good.records[i]
            return !r.textBytes.contains(0x0A) && lines.filter { $0.hasSuffix("] " + r.text) }.count == 1
        }
        let picks = try #require(unique.count > 200 ? [unique[60], unique[120], unique[180]] : nil)
        let zeroed = good.records[picks[0]], garbage = good.records[picks[1]], long = good.records[picks[2]]

        let prb = try kernel.object("prb").deref()
        let descs = try prb.path("desc_ring.descs").unsigned()
        let infos = try prb.path("desc_ring.infos").unsigned()
        let descSize = try #require(kernel.type("struct prb_desc").byteSize)
        let infoSize = try #require(kernel.type("struct printk_info").byteSize)
        let textLen = try kernel.offset(of: "text_len", in: kernel.type("struct printk_info"))
        let descAddress = { (r: PrintkRecord) in descs + UInt64(r.descriptorIndex) * descSize }

        let copy = try damagedCopy(fx, session, [
            (descAddress(zeroed), Data(count: Int(descSize))),
            (descAddress(garbage), Data(repeating: 0xA5, count: Int(descSize))),
            (infos + UInt64(long.descriptorIndex) * infoSize + textLen, Data([0xFF, 0xFF]))])
        defer { try? FileManager.default.removeItem(atPath: copy) }

        let damaged = Session(target: try fx.target(copy))
        let out = try damaged.execute("log")
        let damagedLines = out.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let warnings = damagedLines.filter { $0.hasPrefix("warning: ") }
        #expect(warnings.count == 3, "\(warnings)")
        for r in [zeroed, garbage] {
            let name = "warning: descriptor \(r.descriptorIndex) at \(hex(descAddress(r))): "
            #expect(warnings.contains { $0.hasPrefix(name) && $0.contains("skipped") }, "no warning naming \(name): \(warnings)")
        }
        #expect(warnings.contains { $0.hasPrefix("warning: descriptor \(long.descriptorIndex) at ") && $0.contains("truncated") })
        // Every other record is there, in order. The long one keeps its text, then shows what else its
        // block holds (the newline the kernel stored but did not count), on lines with its timestamp.
        // What follows the text in the block depends on the kernel's earlier use of it: the newline
        // the kernel stored but did not count, or stale bytes on the same line.
        let longLine = try #require(lines.first { $0.hasSuffix("] " + long.text) })
        let longStamp = String(longLine.prefix { $0 != "]" }) + "] "
        let known = Set(lines)
        let extended = try #require(damagedLines.first { $0.hasPrefix(longLine) }, "no line starts with \(longLine)")
        let records = damagedLines.filter { !$0.hasPrefix("warning: ") && !(!known.contains($0) && $0.hasPrefix(longStamp)) }
        let expected = lines.filter {
            !$0.hasSuffix("] " + zeroed.text) && !$0.hasSuffix("] " + garbage.text) && (extended == longLine || $0 != longLine)
        }
        #expect(records == expected)
        #expect(records.last?.hasSuffix(fx.marker) == true)
        // The JSON lists the same warnings.
        let json = out.fields.first { $0.0 == "warnings" }?.1
        if case let .array(items) = json { #expect(items.count == 3) } else { Issue.record("no warnings field") }
    }

    /// A tail_id moved 6000 ids back: more than the ring's 4096 descriptors. `log` reads the last
    /// 4096 ids, reports the span, and one warning covers the never-used (zeroed) descriptors it
    /// meets; every record is still printed.
    @Test func tailIdTooFarBackIsBoundedToTheRing() throws {
        let fx = try LabFixture.load("running")
        let session = Session(target: try fx.target())
        let kernel = try session.kernel()
        let lines = try log(fx)
        let prb = try kernel.object("prb").deref()
        let tail = try prb.path("desc_ring.tail_id.counter")
        let head = try prb.path("desc_ring.head_id.counter").unsigned()
        let count = 1 << (try prb.path("desc_ring.count_bits").unsigned())
        #expect(count == 4096)
        var bad = head &- 6000
        let copy = try damagedCopy(fx, session, [(try #require(tail.address), Data(bytes: &bad, count: 8))])
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let out = try log(fx, copy)
        let warnings = out.filter { $0.hasPrefix("warning: ") }
        #expect(Array(out.prefix { !$0.hasPrefix("warning: ") }) == lines)
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.first?.contains("span 6001 ids, more than the 4096 descriptors; reading the last 4096") == true)
        #expect(warnings.last?.contains("descriptors after it are zeroed (state_var 0)") == true)
    }

    /// A sparse copy of the running ELF dump with `edits` (virtual address, bytes) written into it:
    /// virtual → physical through the kernel's own translation, physical → file offset through PT_LOAD.
    func damagedCopy(_ fx: LabFixture, _ session: Session, _ edits: [(UInt64, Data)]) throws -> String {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("mkdbg-log-damaged-\(getpid()).elf").path
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["--sparse=always", fx.elf, copy]
        try cp.run()
        cp.waitUntilExit()
        guard cp.terminationStatus == 0 else { throw FixtureError("cp --sparse=always \(fx.elf) \(copy) failed") }
        do {
            let core = try ElfCore(path: fx.elf)
            let file = try #require(FileHandle(forWritingAtPath: copy))
            defer { try? file.close() }
            for (va, bytes) in edits {
                let pa = try session.requireTarget().memory.translate(va).physical
                let load = try #require(core.programHeaders.first {
                    $0.type == ProgramHeader.ptLoad && pa >= $0.physicalAddress && pa + UInt64(bytes.count) <= $0.physicalAddress + $0.fileSize
                })
                try file.seek(toOffset: load.offset + (pa - load.physicalAddress))
                try file.write(contentsOf: bytes)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: copy)
            throw error
        }
        return copy
    }
}
