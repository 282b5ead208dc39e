import Foundation
import MKDebugInfo

/// The lab's dumps of a real Debian kernel and the facts recorded beside
/// them (scripts/lab fixtures). Missing fixtures fail the tests: the
/// README's test command always makes them.
struct LabFixture {
    let directory: String
    let release: String
    let packageVersion: String
    let buildId: String
    let vmlinux: String
    let marker: String
    let processes: [String]
    let state: String

    var elf: String { directory + "/vmcore.elf" }
    var kdump: String { directory + "/vmcore.kdump" }
    var kdumpFlat: String { directory + "/vmcore.kdump-flat" }

    static var projectRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static var root: String {
        if let dir = ProcessInfo.processInfo.environment["MKDBG_FIXTURES"] { return dir }
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return cache + "/mkdbg/lab/fixtures"
    }

    /// The arm64 fixtures (`scripts/lab fixtures --arch arm64`): `MKDBG_FIXTURES_ARM64`, else the cache's.
    static var arm64Root: String {
        if let dir = ProcessInfo.processInfo.environment["MKDBG_FIXTURES_ARM64"] { return dir }
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return cache + "/mkdbg/lab/fixtures-arm64"
    }

    static func load(_ name: String, root: String = LabFixture.root) throws -> LabFixture {
        let dir = root + "/" + name
        let factsPath = dir + "/facts.json"
        guard let data = FileManager.default.contents(atPath: factsPath),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("no lab fixture at \(factsPath): run scripts/lab fixtures (the README's test command does)")
        }
        func string(_ key: String) throws -> String {
            guard let v = json[key] as? String else { throw FixtureError("\(factsPath): no \"\(key)\"") }
            return v
        }
        // The vmlinux comes from this checkout's symbol store, by build-id.
        let buildId = try string("build_id")
        let vmlinux = LabFixture.projectRoot + "/symbols/.build-id/\(buildId.prefix(2))/\(buildId.dropFirst(2)).debug"
        guard FileManager.default.fileExists(atPath: vmlinux) else {
            throw FixtureError("no vmlinux for build-id \(buildId) at \(vmlinux): run scripts/lab fetch")
        }
        return LabFixture(directory: dir, release: try string("release"), packageVersion: try string("package_version"),
                          buildId: buildId, vmlinux: vmlinux, marker: try string("marker"),
                          processes: json["processes"] as? [String] ?? [], state: try string("state"))
    }

    func target(_ path: String? = nil) throws -> Target {
        try Target(imagePath: path ?? elf, options: .init(vmlinuxPath: vmlinux))
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a program (no shell) and returns its exit status, stdout and stderr;
/// stderr is drained on another thread, so neither pipe can fill and stall it.
func runProgram(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                stdin: String? = nil) throws -> (status: Int32, out: Data, err: Data) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, b in b } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let e = Box()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        e.data = err.fileHandleForReading.readDataToEndOfFile()
        done.signal()
    }
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try? input.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    p.waitUntilExit()
    return (p.terminationStatus, o, e.data)
}

/// The built `mkdbg` binary (beside the test bundle, or one level up).
var mkdbgExecutable: String {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidate = exe.appendingPathComponent("mkdbg").path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    return exe.deletingLastPathComponent().appendingPathComponent("mkdbg").path
}

/// Runs the built `mkdbg` binary and returns its exit status, stdout and stderr.
func runMkdbg(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let r = try runProgram(mkdbgExecutable, arguments, stdin: stdin)
    return (r.status, String(decoding: r.out, as: UTF8.self), String(decoding: r.err, as: UTF8.self))
}

/// drgn's python (the venv scripts/drgn-venv makes on first use).
func drgnPython() throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: LabFixture.projectRoot + "/scripts/drgn-venv")
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard p.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
        throw FixtureError("scripts/drgn-venv failed (status \(p.terminationStatus)): no drgn to compare with")
    }
    return path
}

extension LabFixture {
    /// The kernel's major and minor version from its release ("6.12.118+deb12-cloud-amd64" → (6, 12)).
    var version: (major: Int, minor: Int) {
        let parts = release.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) ?? 0 }
        return (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
    }

    /// Whether the kernel is at least `major.minor`.
    func atLeast(_ major: Int, _ minor: Int) -> Bool {
        version.major > major || (version.major == major && version.minor >= minor)
    }

    /// The function that formats a panic's message and calls the notifiers: panic() up to
    /// 6.9; since 6.10 vpanic(), which panic() calls.
    var panicBody: String { atLeast(6, 10) ? "vpanic" : "panic" }
}

extension LabFixture {
    /// The per-CPU variable holding each CPU's current task: `current_task` up to 6.1,
    /// a member of `pcpu_hot` since 6.2.
    var currentTask: String { atLeast(6, 2) ? "pcpu_hot.current_task" : "current_task" }
}
