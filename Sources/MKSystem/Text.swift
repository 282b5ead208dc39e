/// Trimming and padding for columns and command lines, without Foundation.
extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines.
    public var trimmingSpaces: SubSequence {
        var s = self[...]
        while let f = s.first, f.isBlank { s = s.dropFirst() }
        while let l = s.last, l.isBlank { s = s.dropLast() }
        return s
    }

    public func trimmed() -> String { String(trimmingSpaces) }

    public func trimmingLeadingSpaces() -> String { String(drop { $0 == " " }) }

    public func trimmingTrailingSpaces() -> String {
        var s = self[...]
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    /// Padded on the left to `width` (zeros by default), for hex columns.
    public func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? String(self) : String(repeating: pad, count: width - count) + String(self)
    }

    /// Padded on the right with spaces to `width`.
    public func rightPadded(_ width: Int) -> String {
        count >= width ? String(self) : String(self) + String(repeating: " ", count: width - count)
    }

    /// A column `width` wide that always ends in at least one space.
    public func padding(_ width: Int) -> String {
        count >= width ? String(self) + " " : rightPadded(width)
    }
}

extension Character {
    /// "\r\n" is one Character in Swift, so it is named too.
    fileprivate var isBlank: Bool { self == " " || self == "\t" || self == "\r" || self == "\n" || self == "\r\n" }
}
