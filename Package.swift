// swift-tools-version:6.0
import PackageDescription

// Layers depend downward only:
// C interop -> MKSystem -> MKFormat -> MKMemory -> MKDisassembly -> MKDebugInfo -> MKValues -> MKKernel
//   -> MKMultikernel -> MKCommands -> MKRepl -> mkdbg
let package = Package(
    name: "mkdbg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mkdbg", targets: ["mkdbg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C interop: thin system-library modules over Debian's -dev packages.
        .systemLibrary(name: "CElf", pkgConfig: "libdw", providers: [.apt(["libdw-dev", "libelf-dev"])]),
        .systemLibrary(name: "CFdt", providers: [.apt(["libfdt-dev"])]),
        .systemLibrary(name: "CReadline", pkgConfig: "readline", providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLzo", pkgConfig: "lzo2", providers: [.apt(["liblzo2-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCapstone", pkgConfig: "capstone", providers: [.apt(["libcapstone-dev"])]),

        // System: file descriptors, errno, atomic files, the mutex, signals, text helpers.
        // Raw C system calls go through it.
        .target(name: "MKSystem"),
        // Formats: ELF cores, VMCOREINFO, kdump-compressed dumps, device trees.
        .target(name: "MKFormat", dependencies: ["MKSystem", "CZlib", "CLzo", "CSnappy", "CZstd", "CFdt"]),
        // Address spaces: physical reads, x86-64 translation, page cache.
        .target(name: "MKMemory", dependencies: ["MKFormat"]),
        // Disassembly: capstone over code read through memory (raw calls in Capstone.swift).
        .target(name: "MKDisassembly", dependencies: ["MKFormat", "MKMemory", "CCapstone"]),
        // Debug info: ELF symbol tables, build-ids, the symbol store.
        .target(name: "MKDebugInfo", dependencies: ["MKSystem", "MKFormat", "MKMemory", "CElf"]),
        // Values: the C expression language (lexer, parser, AST), typed values.
        // (Expression/ uses only the standard library; Value/ needs debug info.)
        .target(name: "MKValues", dependencies: ["MKFormat", "MKMemory", "MKDebugInfo"]),
        // Kernel knowledge: tasks, printk, lists, per-CPU data, modules, backtraces.
        .target(name: "MKKernel", dependencies: ["MKFormat", "MKMemory", "MKDebugInfo", "MKValues", "MKDisassembly"]),
        // Multikernel: kernfs, instances, resources, freeze and thaw.
        .target(name: "MKMultikernel", dependencies: ["MKSystem", "MKFormat", "MKMemory", "MKDebugInfo", "MKValues", "MKKernel"]),
        // Commands over a target (image + symbols).
        .target(name: "MKCommands", dependencies: ["MKSystem", "MKFormat", "MKMemory", "MKDebugInfo", "MKValues", "MKKernel", "MKMultikernel",
                                                  "MKDisassembly"]),
        // The interactive REPL: readline, history, completion, pager, Ctrl-C.
        .target(name: "MKRepl", dependencies: ["MKSystem", "MKCommands", "MKFormat", "MKDebugInfo", "MKValues", "CReadline"]),
        .executableTarget(name: "mkdbg", dependencies: [
            "MKSystem",
            "MKDebugInfo",
            "MKMultikernel",
            "MKCommands",
            "MKRepl",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "MKSystemTests", dependencies: ["MKSystem"]),
        .testTarget(name: "MKFormatTests", dependencies: ["MKFormat", "CZlib", "CLzo", "CSnappy", "CZstd"]),
        .testTarget(name: "MKMemoryTests", dependencies: ["MKMemory", "MKFormat"]),
        .testTarget(name: "MKDisassemblyTests", dependencies: ["MKDisassembly"]),
        .testTarget(name: "MKMultikernelTests", dependencies: ["MKMultikernel", "MKFormat", "mkdbg"]),
        .testTarget(name: "MKValuesTests", dependencies: ["MKValues", "MKDebugInfo", "MKFormat"]),
        // Tests against the lab's real kernel dumps (scripts/lab fixtures).
        .testTarget(name: "LabTests", dependencies: ["mkdbg", "MKCommands", "MKRepl", "MKDebugInfo", "MKMemory", "MKFormat", "MKSystem",
                                                  "MKDisassembly", "MKKernel"]),
    ],
    swiftLanguageModes: [.v5]
)

// The libFuzzer targets (Sources/mkdbg-fuzz, docs/fuzzing.md) exist only for scripts/fuzz,
// which builds with MKDBG_FUZZ=1 and -sanitize=fuzzer,address in its own
// scratch path: a plain `swift build` never compiles them.
if Context.environment["MKDBG_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "mkdbg-fuzz",
        dependencies: ["MKFormat", "MKMemory", "MKDebugInfo", "MKValues", "MKMultikernel"],
        path: "Sources/mkdbg-fuzz",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    package.products.append(.executable(name: "mkdbg-fuzz", targets: ["mkdbg-fuzz"]))
}
