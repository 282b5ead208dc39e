import Testing
import Foundation

/// Several kernels in one session: instances and a snapshot together,
/// `@NAME CMD`, `targets`, and `diff` between them.
/// Part of the serialized live-lab suite: these freeze and snapshot web too.
extension MultikernelLabTests {
    @Test func webDbAndASnapshotInOneSession() throws {
        let lab = try MultikernelLab.load()
        let dir = NSTemporaryDirectory() + "mkdbg-session-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try lab.mkdbg([
            "-e", "instance web", "-e", "snapshot web \(dir)/web.vmcore", "-e", "instance db",
            "-e", "open \(dir)/web.vmcore as before", "-e", "target web",
            "-e", "echo ==targets", "-e", "targets",
            "-e", "echo ==at-db", "-e", "@db ps mk-*",
            "-e", "echo ==diff-ps", "-e", "diff ps web db",
            // web's logger writes a line every 2 s: wait for a few.
            "-e", "shell sleep 5",
            "-e", "echo ==diff-log", "-e", "diff log before web",
            "-e", "echo ==current", "-e", "p init_uts_ns.name.release"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let parts = r.out.components(separatedBy: "==")
        func part(_ name: String) -> String { parts.first { $0.hasPrefix(name) } ?? "" }
        let targets = part("targets")
        #expect(targets.contains("*  web "))
        #expect(targets.contains(" db ") && targets.contains(" before ") && targets.contains("post-mortem"))
        // @db ran on db and came back: db's own workload.
        let atDb = part("at-db")
        #expect(atDb.contains("mk-dbwriter"))
        #expect(!atDb.contains("mk-httpd"))
        let diffPs = part("diff-ps")
        #expect(diffPs.contains("--- web: ps") && diffPs.contains("+++ db: ps"))
        #expect(diffPs.contains("\n-") && diffPs.contains("mk-httpd-1"))
        #expect(diffPs.range(of: #"\n\+\d+ 1 mk-dbwriter"#, options: .regularExpression) != nil)
        // Lines web logged after the snapshot appear as additions, nothing removed.
        let diffLog = part("diff-log")
        #expect(diffLog.contains("--- before: log") && diffLog.contains("+++ web: log"))
        let added = diffLog.split(separator: "\n").filter { $0.hasPrefix("+[") }
        #expect(!added.isEmpty && added.allSatisfy { $0.contains("mk-web: request") }, "added: \(added)")
        #expect(!diffLog.split(separator: "\n").contains { $0.hasPrefix("-[") })
        // Still on web at the end.
        #expect(part("current").contains("$"))
    }

    @Test func targetsAndDiffSpeakJSON() throws {
        let lab = try MultikernelLab.load()
        let r = try lab.mkdbg(["--json", "-e", "instance web", "-e", "instance db", "-e", "targets",
                               "-e", "diff p init_uts_ns.name.release web db", "-e", "diff ps web db", "-e", "target nope"])
        let lines = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 6)
        let targets = try #require(lines[2]["targets"] as? [[String: Any]])
        #expect(targets.map { $0["name"] as? String } == ["web", "db"])
        #expect(targets.last?["current"] as? Bool == true)
        // web runs Debian's 6.1 and db its 6.12: one session, each read with its own vmlinux
        let webRelease = try #require(lab.instance("web")["release"] as? String)
        let dbRelease = try #require(lab.instance("db")["release"] as? String)
        #expect(webRelease != dbRelease)
        #expect(targets.map { $0["release"] as? String } == [webRelease, dbRelease])
        #expect(targets.map { $0["build_id"] as? String }
                == [lab.instance("web")["build_id"] as? String, lab.instance("db")["build_id"] as? String])
        #expect(lines[3]["equal"] as? Bool == false)
        let release = try #require((lines[3]["differences"] as? [[String: Any]])?.first)
        #expect((release["a"] as? String)?.hasPrefix("\"\(webRelease)\"") == true)
        #expect((release["b"] as? String)?.hasPrefix("\"\(dbRelease)\"") == true)
        #expect(lines[4]["equal"] as? Bool == false)
        let diffs = try #require(lines[4]["differences"] as? [[String: Any]])
        #expect(diffs.contains { ($0["path"] as? String) == "tasks" })
        #expect(lines[5]["ok"] as? Bool == false)
        #expect(((lines[5]["error"] as? [String: Any])?["message"] as? String)?.contains("no instance named \"nope\"") == true)
    }
}
