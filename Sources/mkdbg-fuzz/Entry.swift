#if canImport(Glibc)
import Glibc
#endif

/// One libFuzzer binary, one target per run: `MKDBG_FUZZ_TARGET` names it
/// (scripts/fuzz sets it). Each target keeps its own corpus.
protocol FuzzTarget {
    static var name: String { get }
    /// Loads what every input shares (debug info, layouts); exits on failure.
    init()
    func run(_ data: [UInt8])
}

let targets: [any FuzzTarget.Type] = [
    ImageFuzz.self, VmcoreInfoFuzz.self, NotesFuzz.self, DeviceTreeFuzz.self, ExpressionFuzz.self, InboxRingFuzz.self,
    BtfFuzz.self, DwarfScanFuzz.self,
]

nonisolated(unsafe) var current: (any FuzzTarget)?

func fail(_ message: String) -> Never {
    fputs("mkdbg-fuzz: \(message)\n", stderr)
    exit(2)
}

/// libFuzzer's driver (in the toolchain's libclang_rt.fuzzer).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links executables with `main` renamed to this (`--defsym`), which
/// hides libFuzzer's own main: start its driver from here.
@_cdecl("mkdbg_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let names = targets.map { $0.name }.joined(separator: " ")
    guard let raw = getenv("MKDBG_FUZZ_TARGET") else { fail("set MKDBG_FUZZ_TARGET to one of: \(names)") }
    let wanted = String(cString: raw)
    guard let type = targets.first(where: { $0.name == wanted }) else { fail("no target \(wanted); targets: \(names)") }
    current = type.init()
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzTestOneInput)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    current?.run(bytes)
    return 0
}

/// The checkout's root, for files the targets read (layouts, fuzz_types.c).
let projectRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Sources/mkdbg-fuzz/Entry.swift
    return parts.joined(separator: "/")
}()
