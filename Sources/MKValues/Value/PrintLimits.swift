/// gdb's print settings that bound a printed value: elements shown per
/// array or string, the run length that collapses into `<repeats N times>`,
/// and (mkdbg's own) the characters one printed value may take in all, so
/// a nest of arrays cannot print for ever.
public struct PrintLimits: Equatable, Sendable {
    /// `set print elements`: elements (or characters) shown per array; nil is unlimited.
    public var elements: Int? = 200
    /// `set print repeats`: runs longer than this collapse; nil never collapses.
    public var repeats: Int? = 10
    /// `set print output-limit`: characters of one printed value.
    public var outputLimit = 1 << 20

    /// The largest `output-limit` accepted: the text is held in memory.
    public static let maxOutputLimit = 256 << 20
    /// Bytes the formatter may read in all to find runs of equal elements
    /// in arrays too large to read at once.
    public static let repeatScanBytes = 64 << 20

    public init(elements: Int? = 200, repeats: Int? = 10, outputLimit: Int = 1 << 20) {
        self.elements = elements
        self.repeats = repeats
        self.outputLimit = outputLimit
    }
}
