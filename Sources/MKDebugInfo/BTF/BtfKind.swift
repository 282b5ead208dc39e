/// BTF type kinds (the `info` word's bits 24–28), as include/uapi/linux/btf.h numbers them.
enum BtfKind: UInt8 {
    case void = 0, int, pointer, array, structure, union, enumeration, forward, typedef
    case volatile, const, restrict, function, functionPrototype, variable, dataSection
    case float, declarationTag, typeTag, enumeration64

    /// Bytes of kind-specific data after the 12-byte common header, for `vlen` entries.
    func payloadSize(vlen: Int) -> Int {
        switch self {
        case .int, .variable, .declarationTag: return 4
        case .array: return 12
        case .structure, .union, .dataSection: return 12 * vlen
        case .enumeration, .functionPrototype: return 8 * vlen
        case .enumeration64: return 12 * vlen
        default: return 0
        }
    }
}
