import MKFormat
import MKMemory

/// Shared by `vtop`, `ptov` and `pte`: crash's number convention and its
/// way of printing entries and flags.
enum PageTableText {
    /// crash reads bare numbers as hex: `0x…`, or a word of hex digits
    /// (when it is not also a symbol's name).
    static func crashNumber(_ word: String, isSymbol: (String) -> Bool = { _ in false }) -> UInt64? {
        if let n = AddressExpression.parseNumber(word), word.lowercased().hasPrefix("0x") { return n }
        guard !word.isEmpty, word.count <= 16, word.allSatisfy(\.isHexDigit), !isSymbol(word) else { return nil }
        return UInt64(word, radix: 16)
    }

    /// `(PRESENT|RW|…)` as crash prints flags; `(none)` for an empty entry.
    static func flags(_ list: [String]) -> String {
        "(" + (list.isEmpty ? "none" : list.joined(separator: "|")) + ")"
    }

    static func hexText(_ v: UInt64) -> String { String(v, radix: 16) }

    static func sizeText(_ bytes: UInt64) -> String {
        switch bytes {
        case 1 << 30: return "1GB"
        case 1 << 21: return "2MB"
        case 1 << 12: return "4KB"
        default: return "\(bytes) bytes"
        }
    }

    static func padded(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    /// The `PTE PHYSICAL FLAGS` table crash prints under a translation.
    static func entryTable(_ entry: UInt64, _ info: PageTableEntryInfo) -> String {
        let e = hexText(entry)
        let w = max(e.count + 2, 8)
        return padded(String(repeating: " ", count: max(0, (w - 3) / 2)) + "PTE", w) + padded("PHYSICAL", 10) + "FLAGS\n"
            + padded(e, w) + padded(hexText(info.address), 10) + flags(info.flags)
    }
}
