import Glibc

/// Finding bytes in bytes, at memory speed: glibc's vectorised memchr finds
/// each candidate first byte, memcmp checks the rest (memmem is not in Swift's
/// Glibc module).
public enum ByteSearch {
    /// The offsets of `needle` in `haystack` at multiples of `alignment`, from
    /// the first; at most `limit` of them.
    public static func offsets(of needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer,
                               alignment: Int = 1, limit: Int) -> [Int] {
        guard let n = needle.baseAddress, let h = haystack.baseAddress, needle.count > 0, needle.count <= haystack.count,
              limit > 0 else { return [] }
        var found: [Int] = []
        var at = 0
        while at + needle.count <= haystack.count, found.count < limit {
            guard let p = memchr(h + at, Int32(needle[0]), haystack.count - needle.count + 1 - at) else { break }
            let offset = h.distance(to: UnsafeRawPointer(p))
            guard needle.count == 1 || memcmp(p + 1, n + 1, needle.count - 1) == 0 else {
                at = offset + 1
                continue
            }
            if alignment <= 1 || offset % alignment == 0 {
                found.append(offset)
                at = offset + (alignment <= 1 ? 1 : alignment)
            } else {
                at = offset + 1
            }
        }
        return found
    }
}
