import MKFormat

/// The two boundaries of an architecture's kernel virtual address space
/// that layers without a VMCOREINFO layout need (the symbol table, the
/// evaluator): where kernel addresses begin, and where the kernel image is
/// linked (addresses from there up move with KASLR; per-CPU symbols, link
/// offsets near zero, do not).
public struct KernelSpace: Sendable, Equatable {
    /// The lowest kernel address (x86-64: the upper half, 0xffff800000000000).
    public var kernelStart: UInt64
    /// The kernel image's link base (x86-64: `__START_KERNEL_map`).
    public var imageBase: UInt64

    public init(kernelStart: UInt64, imageBase: UInt64) {
        self.kernelStart = kernelStart
        self.imageBase = imageBase
    }

    public func isKernelAddress(_ address: UInt64) -> Bool { address >= kernelStart }

    /// A link-time address at run time: slid by `kaslrOffset` when it is in the kernel image.
    public func relocate(_ linkAddress: UInt64, kaslrOffset: UInt64) -> UInt64 {
        linkAddress >= imageBase ? linkAddress &+ kaslrOffset : linkAddress
    }

    /// The space of a kernel of `machine` (nil: the image did not say, x86-64); nil for one mkdbg has no layout for.
    public static func forMachine(_ machine: UInt16?) -> KernelSpace? {
        switch machine {
        case nil, ElfHeader.emX86_64?: return X86_64Layout.space
        case ElfHeader.emAarch64?: return Arm64Layout.space
        default: return nil
        }
    }
}
