import Testing
@testable import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp for one test.
func scratchDirectory() -> String {
    var template = Array("/tmp/mksystem-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } }
    #expect(made != nil)
    return made ?? "/nonexistent"
}

func entries(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func contents(_ path: String) throws -> [UInt8] {
    try FileDescriptor(open: path, O_RDONLY).readToEnd(limit: 1 << 20)
}

@Suite struct ErrnoTests {
    @Test func namesCallPathAndReason() {
        let e = Errno(ENOENT, call: "open", path: "/nowhere")
        #expect(e.reason == "No such file or directory")
        #expect(e.description == "/nowhere: open: No such file or directory")
    }

    @Test func openFailureCarriesTheCode() {
        #expect(throws: Errno(ENOENT, call: "open", path: "/nonexistent/x")) {
            try FileDescriptor(open: "/nonexistent/x", O_RDONLY)
        }
        #expect(throws: Errno(ENOTDIR, call: "open", path: "/etc/passwd/x")) {
            try FileDescriptor(open: "/etc/passwd/x", O_RDONLY)
        }
    }
}

@Suite struct AtomicFileTests {
    @Test func commitReplacesTheFileAndLeavesNoTemporary() throws {
        let dir = scratchDirectory()
        let path = dir + "/out.bin"
        let old = try FileDescriptor(open: path, O_WRONLY | O_CREAT, permissions: 0o600)
        try [UInt8]("old".utf8).withUnsafeBytes { try old.writeAll($0) }
        try old.close()
        let file = try AtomicFile(path: path)
        #expect(entries(dir).count == 2)
        try [UInt8]("new bytes".utf8).withUnsafeBytes { try file.append($0) }
        try [UInt8]("N".utf8).withUnsafeBytes { try file.write($0, at: 0) }
        #expect(try contents(path) == Array("old".utf8), "the old file stays until commit")
        try file.commit()
        #expect(try contents(path) == Array("New bytes".utf8))
        #expect(entries(dir) == ["out.bin"])
    }

    @Test func discardKeepsTheOldFile() throws {
        let dir = scratchDirectory()
        let path = dir + "/keep"
        do {
            let file = try AtomicFile(path: path)
            try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try file.append($0) }
            file.discard()
        }
        do {
            // Dropped without commit or discard.
            let file = try AtomicFile(path: path)
            try [UInt8](repeating: 7, count: 10).withUnsafeBytes { try file.append($0) }
        }
        #expect(entries(dir).isEmpty)
    }

    @Test func missingDirectoryNamesIt() {
        #expect(throws: Errno(ENOENT, call: "open", path: "/nonexistent-dir")) {
            try AtomicFile(path: "/nonexistent-dir/file")
        }
    }
}

@Suite struct MutexTests {
    @Test func serialisesIncrements() {
        final class Counter: @unchecked Sendable { var n = 0 }
        let counter = Counter(), lock = Mutex()
        var threads: [pthread_t] = []
        final class Box { let run: () -> Void; init(_ r: @escaping () -> Void) { run = r } }
        for _ in 0..<4 {
            let box = Unmanaged.passRetained(Box {
                for _ in 0..<100_000 { lock.withLock { counter.n += 1 } }
            })
            var t = pthread_t()
            pthread_create(&t, nil, { arg in
                guard let arg else { return nil }
                let b = Unmanaged<Box>.fromOpaque(arg).takeRetainedValue()
                b.run()
                return nil
            }, box.toOpaque())
            threads.append(t)
        }
        for t in threads { pthread_join(t, nil) }
        #expect(counter.n == 400_000)
    }
}

@Suite struct TextTests {
    @Test func trimAndPad() {
        #expect(" \t ps -a \r\n".trimmed() == "ps -a")
        #expect("  x y  ".trimmingLeadingSpaces() == "x y  ")
        #expect("  x y  ".trimmingTrailingSpaces() == "  x y")
        #expect("ff".leftPadded(4) == "00ff")
        #expect("12345".leftPadded(4) == "12345")
        #expect("ab".rightPadded(4) == "ab  ")
        #expect("ab".padding(4) == "ab  ")
        #expect("abcd".padding(4) == "abcd ")
    }
}

@Suite(.serialized) struct TerminationTableTests {
    @Test func writesTheLatestPublishedFiles() throws {
        let dir = scratchDirectory()
        let a = dir + "/a", b = dir + "/b", c = dir + "/c"
        for p in [a, b, c] { try FileDescriptor(open: p, O_WRONLY | O_CREAT, permissions: 0o600).close() }
        let table = TerminationTable.shared
        table.publish([a, b], byte: UInt8(ascii: "0"))
        table.publish([c, String(repeating: "x", count: Int(PATH_MAX) + 1)], byte: UInt8(ascii: "0"))
        table.writeFromHandler()
        #expect(try contents(a).isEmpty)
        #expect(try contents(b).isEmpty)
        #expect(try contents(c) == Array("0".utf8))
        table.publish([], byte: UInt8(ascii: "0"))
        table.writeFromHandler()
        #expect(try contents(c) == Array("0".utf8))
    }
}

@Suite(.serialized) struct SignalsTests {
    @Test func interruptSetsTheFlagUntilRestored() {
        Signals.interruptFlag.pointee = 0
        var before = sigaction()
        sigaction(SIGINT, nil, &before)
        let handler = Signals.catchInterrupts()
        raise(SIGINT)
        #expect(Signals.interruptFlag.pointee == 1)
        handler.restore()
        Signals.interruptFlag.pointee = 0
        var now = sigaction()
        sigaction(SIGINT, nil, &now)
        let address = { (a: sigaction) in a.__sigaction_handler.sa_handler.map { unsafeBitCast($0, to: Int.self) } ?? 0 }
        #expect(address(now) == address(before), "SIGINT's previous disposition is back")
    }

    @Test func brokenPipeFailsTheWriteInsteadOfKilling() throws {
        let saved = Signals.catchBrokenPipe()
        defer { saved.restore() }
        let ends = try FileDescriptor.pipe()
        try ends.read.close()
        #expect(throws: Errno(EPIPE, call: "write", path: "pipe")) {
            try [UInt8]("x".utf8).withUnsafeBytes { try ends.write.writeAll($0) }
        }
    }
}
