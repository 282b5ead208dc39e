import Testing
import Foundation

/// `channels` against the lab's inbox rings, where `scripts/labkit/mk_traffic.py`
/// plays the other kernels and, when paused, writes exactly what is pending
/// to `$LAB/mk/traffic.json` (scripts/labkit/README.md).
/// JSON values equal (numbers by value, objects member by member of `expected`).
fileprivate func same(_ expected: Any?, _ actual: Any?) -> Bool {
    switch (expected, actual) {
    case (nil, nil), (is NSNull, nil), (nil, is NSNull), (is NSNull, is NSNull): return true
    case let (e as String, a as String): return e == a
    case let (e as NSNumber, a as NSNumber): return e == a
    case let (e as [String: Any], a as [String: Any]):
        return e.allSatisfy { same($0.value, a[$0.key]) }
    default: return false
    }
}

@Suite(.serialized) struct ChannelsTests {
    @discardableResult
    static func traffic(_ args: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: LabFixture.projectRoot + "/scripts/lab")
        p.arguments = ["traffic"] + args
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func state(_ lab: MultikernelLab) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: lab.labDirectory + "/mk/traffic.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func channels(_ lab: MultikernelLab, _ command: String) throws -> [[String: Any]] {
        let r = try lab.mkdbg(["--json", "-e", command])
        #expect(r.status == 0, "stderr: \(r.err)")
        let line = try #require(r.out.split(separator: "\n").first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["ok"] as? Bool == true, "\(json)")
        return try #require(json["channels"] as? [[String: Any]])
    }

    /// A slot of `channels --json` against the same slot in traffic.json:
    /// index, sender, type, size, publication, and the whole decoded message.
    static func expectSameSlot(_ t: [String: Any], _ m: [String: Any], ring: String) {
        let at = "ring \(ring) slot \(t["index"] ?? "?")"
        for key in ["index", "sender_cpu", "sender", "type", "type_name", "data_size", "published"] {
            #expect(same(t[key], m[key]), "\(at): \(key) is \(m[key] ?? "nil"), traffic.json says \(t[key] ?? "nil")")
        }
        guard let tm = t["message"] as? [String: Any] else {
            #expect(m["message"] == nil || m["message"] is NSNull, "\(at): a message where traffic.json has none")
            return
        }
        let mm = m["message"] as? [String: Any] ?? [:]
        for (key, value) in tm where key != "payload" {
            #expect(same(value, mm[key]), "\(at): message.\(key) is \(mm[key] ?? "nil"), traffic.json says \(value)")
        }
        if tm["format"] as? String == "mk_message" {
            #expect(same(tm["payload"], mm["payload"]), "\(at): payload \(mm["payload"] ?? "nil") vs \(tm["payload"] ?? "nil")")
        }
        #expect((m["problems"] as? [Any])?.isEmpty == true, "\(at): \(m["problems"] ?? "")")
    }

    @Test func pausedRingsShowExactlyWhatIsPending() throws {
        let lab = try MultikernelLab.load()
        #expect(try Self.traffic(["pause"]).status == 0)
        defer { _ = try? Self.traffic(["resume"]) }
        let state = try Self.state(lab)
        #expect(state["state"] as? String == "paused")
        let rings = try #require(state["rings"] as? [[String: Any]])
        #expect(rings.map { $0["name"] as? String } == ["host", "web", "db"])
        let channels = try Self.channels(lab, "channels")
        #expect(channels.map { $0["name"] as? String } == ["host", "db", "spare", "web"])
        // Every field docs/json.md promises.
        for c in channels {
            for key in ["name", "id", "phys", "size", "source", "read_through", "live", "layout", "head", "tail", "pending", "problems", "notes", "slots"] {
                #expect(c[key] != nil, "channel \(c["name"] ?? "?") has no \(key)")
            }
            for slot in c["slots"] as? [[String: Any]] ?? [] {
                for key in ["index", "state", "sender_cpu", "sender", "type", "type_name", "data_size", "published", "consumed", "message", "problems"] {
                    #expect(slot[key] != nil, "a slot of \(c["name"] ?? "?") has no \(key)")
                }
            }
        }
        var kinds = Set<String>()
        for ring in rings {
            let name = ring["name"] as? String ?? "?"
            let c = try #require(channels.first { $0["name"] as? String == name })
            #expect(c["phys"] as? String == "0x" + (ring["phys_hex"] as? String ?? "?"))
            #expect(same(ring["size"], c["size"]) && c["source"] as? String == "ipi_buffer")
            #expect(same(ring["head"], c["head"]) && same(ring["tail"], c["tail"]), "\(name): head/tail \(c["head"] ?? "")/\(c["tail"] ?? "") vs \(ring["head"] ?? "")/\(ring["tail"] ?? "")")
            #expect(same(ring["pending_count"], c["pending"]))
            #expect((c["problems"] as? [Any])?.isEmpty == true, "\(name): \(c["problems"] ?? "")")
            let expected = try #require(ring["pending"] as? [[String: Any]])
            let slots = try #require(c["slots"] as? [[String: Any]])
            #expect(slots.count == expected.count, "\(name): \(slots.count) slots, traffic.json has \(expected.count) pending")
            for (t, m) in zip(expected, slots) {
                Self.expectSameSlot(t, m, ring: name)
                #expect(m["state"] as? String == "pending" && m["consumed"] as? Bool == false)
                if let msg = t["message"] as? [String: Any] { kinds.insert((msg["msg_subtype_name"] as? String) ?? (msg["type_name"] as? String) ?? "?") }
            }
        }
        #expect(kinds.count >= 4, "the pending messages cover few kinds: \(kinds)")
        #expect(channels.first { $0["name"] as? String == "spare" }?["source"] as? String == "none")

        // The text shows the same: every pending console line, quoted.
        let text = try lab.mkdbg(["-e", "channels host"])
        #expect(text.status == 0)
        let host = try #require(rings.first)
        for slot in host["pending"] as? [[String: Any]] ?? [] {
            guard let m = slot["message"] as? [String: Any], let t = m["text"] as? String else { continue }
            let quoted = "\"" + t.replacingOccurrences(of: "\n", with: "\\n") + "\""
            #expect(text.out.contains(quoted), "no \(quoted) in:\n\(text.out)")
        }
        #expect(text.out.contains("head \(host["head"] ?? "?")  tail \(host["tail"] ?? "?")  pending \(host["pending_count"] ?? "?")"))
    }

    @Test func consumedSlotsWithAll() throws {
        let lab = try MultikernelLab.load()
        #expect(try Self.traffic(["pause"]).status == 0)
        defer { _ = try? Self.traffic(["resume"]) }
        let state = try Self.state(lab)
        let web = try #require((state["rings"] as? [[String: Any]])?.first { $0["name"] as? String == "web" })
        let c = try #require(try Self.channels(lab, "channels web -a").first)
        let slots = try #require(c["slots"] as? [[String: Any]])
        let consumed = slots.filter { $0["consumed"] as? Bool == true }
        let expected = try #require(web["consumed"] as? [[String: Any]])
        #expect(consumed.count == expected.count && !expected.isEmpty)
        for (t, m) in zip(expected, consumed) {
            Self.expectSameSlot(t, m, ring: "web")
            #expect(m["state"] as? String == "consumed")
        }
        // Consumed first (oldest first), then the pending ones.
        #expect(slots.map { $0["index"] as? Int ?? -1 }
                == expected.map { $0["index"] as? Int ?? -1 } + (web["pending"] as? [[String: Any]] ?? []).map { $0["index"] as? Int ?? -1 })
    }

    /// The arm64-era subtypes (223163d8): every MK_IO_MSI_MAP (spawns to the
    /// host) and MK_IO_MSI_ACK (the host's answers) in the rings, pending or
    /// consumed, decoded exactly as the traffic process wrote them.
    @Test func msiMapAndAckDecodeExactly() throws {
        let lab = try MultikernelLab.load()
        #expect(try Self.traffic(["pause"]).status == 0)
        defer { _ = try? Self.traffic(["resume"]) }
        let state = try Self.state(lab)
        #expect((state["layout"] as? [String: Any])?["era"] as? String == "223163d8")
        let rings = try #require(state["rings"] as? [[String: Any]])
        let channels = try Self.channels(lab, "channels -a")
        var seen: [String: Int] = [:]
        for ring in rings {
            let name = ring["name"] as? String ?? "?"
            let c = try #require(channels.first { $0["name"] as? String == name })
            #expect(((c["layout"] as? [String: Any])?["era"] as? String) == "223163d8")
            let slots = try #require(c["slots"] as? [[String: Any]])
            let all = (ring["consumed"] as? [[String: Any]] ?? []) + (ring["pending"] as? [[String: Any]] ?? [])
            for t in all {
                guard let sub = (t["message"] as? [String: Any])?["msg_subtype_name"] as? String, sub.hasPrefix("MK_IO_MSI_") else { continue }
                let m = try #require(slots.first { same(t["index"], $0["index"]) }, "\(name): no slot \(t["index"] ?? "?") in channels -a")
                Self.expectSameSlot(t, m, ring: name)
                let payload = (m["message"] as? [String: Any])?["payload"] as? [String: Any] ?? [:]
                #expect(payload["struct"] as? String == "mk_io_msi_payload")
                // Requests go to the host and carry the sender; answers come from the host.
                if sub == "MK_IO_MSI_MAP" {
                    #expect(name == "host" && (payload["sender_instance_id"] as? Int ?? 0) > 0, "\(name): \(payload)")
                } else {
                    #expect(name != "host" && payload["sender_instance_id"] as? Int == 0, "\(name): \(payload)")
                }
                seen[sub + " " + name, default: 0] += 1
            }
        }
        #expect(seen["MK_IO_MSI_MAP host", default: 0] > 0, "\(seen)")
        #expect(seen["MK_IO_MSI_ACK web", default: 0] > 0 && seen["MK_IO_MSI_ACK db", default: 0] > 0, "\(seen)")
        // The text names them and their payload fields.
        let text = try lab.mkdbg(["-e", "channels web -a"])
        #expect(text.out.contains("MK_IO_MSI_ACK domain=0 rid=0x900 event="), "\(text.out)")
    }

    @Test func claimedButUnpublishedSlot() throws {
        let lab = try MultikernelLab.load()
        let paused = try Self.traffic(["pause", "--unpublished"])
        defer { _ = try? Self.traffic(["resume"]) }
        #expect(paused.status == 0)
        let state = try Self.state(lab)
        let ring = try #require((state["rings"] as? [[String: Any]])?.first { ($0["unpublished_count"] as? Int ?? 0) > 0 })
        let name = try #require(ring["name"] as? String)
        let c = try #require(try Self.channels(lab, "channels \(name)").first)
        let slots = try #require(c["slots"] as? [[String: Any]])
        let expected = try #require(ring["pending"] as? [[String: Any]])
        #expect(slots.count == expected.count)
        for (t, m) in zip(expected, slots) { Self.expectSameSlot(t, m, ring: name) }
        let claimed = try #require(slots.first { $0["published"] as? Bool == false })
        #expect(claimed["data_size"] as? Int == 0)
        #expect((c["notes"] as? [String])?.contains { $0.hasPrefix("slot \(claimed["index"] ?? "?") is claimed but not published") } == true)
        let text = try lab.mkdbg(["-e", "channels \(name)"])
        #expect(text.out.contains("claimed, not published"))
    }

    @Test func resumedTrafficMovesHeadAndTail() throws {
        let lab = try MultikernelLab.load()
        #expect(try Self.traffic(["pause"]).status == 0)
        var resumed = false
        defer { if !resumed { _ = try? Self.traffic(["resume"]) } }
        let before = try Self.channels(lab, "channels")
        #expect(try Self.traffic(["resume"]).status == 0)
        resumed = true
        Thread.sleep(forTimeInterval: 2.5)
        let after = try Self.channels(lab, "channels")
        var headMoved = 0, tailMoved = 0
        for name in ["host", "web", "db"] {
            let b = try #require(before.first { $0["name"] as? String == name })
            let a = try #require(after.first { $0["name"] as? String == name })
            if !same(b["head"], a["head"]) { headMoved += 1 }
            if !same(b["tail"], a["tail"]) { tailMoved += 1 }
            #expect(!same(b["head"], a["head"]) || !same(b["tail"], a["tail"]), "\(name): nothing moved in 2.5 s")
            #expect((a["problems"] as? [Any])?.isEmpty == true, "\(name): \(a["problems"] ?? "")")
        }
        #expect(headMoved > 0 && tailMoved > 0, "heads moved in \(headMoved) rings, tails in \(tailMoved)")
    }

    @Test func corruptRingIsShownAndTheCommandFinishes() throws {
        let lab = try MultikernelLab.load()
        #expect(try Self.traffic(["pause"]).status == 0)
        defer {
            _ = try? Self.traffic(["repair", "web"])
            _ = try? Self.traffic(["resume"])
        }
        #expect(try Self.traffic(["corrupt", "web"]).status == 0)
        let state = try Self.state(lab)
        let ring = try #require((state["rings"] as? [[String: Any]])?.first { $0["name"] as? String == "web" })
        let corrupted = try #require(ring["corrupted"] as? [String: Any])
        let head = try #require(corrupted["head_written"] as? Int)
        let slot = try #require(corrupted["slot"] as? Int)
        #expect(head > 63)

        let start = Date()
        let c = try #require(try Self.channels(lab, "channels web").first)
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(c["head"] as? Int == head)
        #expect(c["pending"] is NSNull, "pending must not be trusted")
        let problems = c["problems"] as? [String] ?? []
        #expect(problems.contains { $0.hasPrefix("head \(head) is outside 0..63") }, "\(problems)")
        #expect(problems.contains("slot \(slot): data_size 5000 exceeds the 4096-byte buffer: the consumer drops the slot; its contents are not decoded"), "\(problems)")
        let slots = c["slots"] as? [[String: Any]] ?? []
        let bad = try #require(slots.first { $0["index"] as? Int == slot })
        #expect(bad["data_size"] as? Int == 5000 && bad["state"] as? String == "unknown")
        #expect(bad["message"] is NSNull)

        let text = try lab.mkdbg(["-e", "channels web", "-e", "echo after"])
        #expect(text.status == 0)
        #expect(text.out.contains("! head \(head) is outside 0..63"))
        #expect(text.out.contains("! data_size 5000 exceeds the 4096-byte buffer"))
        #expect(text.out.hasSuffix("after\n"))

        // Repaired, the ring reads clean again.
        #expect(try Self.traffic(["repair", "web"]).status == 0)
        let repaired = try #require(try Self.channels(lab, "channels web").first)
        #expect(same(corrupted["head"], repaired["head"]))
        #expect((repaired["problems"] as? [Any])?.isEmpty == true, "\(repaired["problems"] ?? "")")
    }

    /// Today's upstream has no ipi_buffer files: without the host's vmlinux
    /// (the fixture's host kernel has none) the addresses are unknown, said clearly.
    @Test func withoutIpiBufferFilesTheAddressIsUnknown() throws {
        let lab = try MultikernelLab.load()
        let dir = NSTemporaryDirectory() + "mkdbg-chan-fallback-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try lab.runLab(["mk-fallback", dir]) == 0)
        let r = try runMkdbg(["--root", dir, "--json", "-e", "channels"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let channels = try #require(json["channels"] as? [[String: Any]])
        #expect(channels.map { $0["name"] as? String } == ["host", "web"])
        for c in channels {
            #expect(c["source"] as? String == "unknown" && c["phys"] is NSNull && c["pending"] is NSNull)
            let problems = c["problems"] as? [String] ?? []
            #expect(problems.count == 1)
            #expect(problems.first?.hasPrefix("inbox address unknown: no \(dir)/sys/fs/multikernel/") == true)
            #expect(problems.first?.contains("the host kernel's memory cannot tell it (no vmlinux found") == true, "\(problems)")
        }
        let text = try runMkdbg(["--root", dir, "-e", "channels web"])
        #expect(text.out.hasPrefix("web: inbox address unknown\n"))
    }
}
