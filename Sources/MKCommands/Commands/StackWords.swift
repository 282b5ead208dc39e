import MKFormat
import MKMemory
import MKDebugInfo
import MKKernel

/// crash's `bt -f`: the raw stack words of each real frame, from its stack
/// pointer up to its caller's, two to a line after the address. A word
/// that points into kernel or module text is followed, on its line, by
/// `<symbol+offset>` (decimal, as gdb's `x/a`). The outermost frame, and a
/// frame whose caller is on another stack, get the words up to the end of
/// the 16 KiB-aligned block holding the sp (x86-64's THREAD_SIZE); every
/// frame shows at most `maxWords`, and says when it was cut.
enum StackWords {
    static let maxWords = 512
    static let wordsPerLine = 2
    static let stackBlock: UInt64 = 16384

    struct Range {
        var frame: Int
        var start: UInt64
        var words: [UInt64]
        /// Words left out past `maxWords`.
        var cut: Int
        var error: String?
    }

    /// One range per real frame (inline frames have none of their own).
    static func ranges(_ bt: Backtrace, memory: KernelMemory) -> [Range] {
        var result: [Range] = []
        for (i, f) in bt.frames.enumerated() where !f.isInline {
            let next = bt.frames[(i + 1)...].first { !$0.isInline }
            let sp = f.sp
            var end: UInt64
            if let callerSP = next?.sp, callerSP > sp, callerSP - sp <= stackBlock {
                end = callerSP
            } else {
                let (blockEnd, o) = (sp | (stackBlock - 1)).addingReportingOverflow(1)
                end = o ? sp : blockEnd
            }
            let count = Int((end - sp) / 8)
            let shown = min(count, maxWords)
            var range = Range(frame: i, start: sp, words: [], cut: count - shown)
            do {
                let bytes = try memory.readVirtual(sp, count: shown * 8)
                range.words = (0..<shown).compactMap { bytes.loadLE64(at: $0 * 8) }
            } catch {
                range.error = "\(error)"
            }
            result.append(range)
        }
        return result
    }

    static func lines(_ range: Range, symbolize: (UInt64) -> String?) -> [String] {
        var lines: [String] = []
        if let error = range.error { return ["    cannot read the stack at \(hexDigits(range.start)): \(error)"] }
        var i = 0
        while i < range.words.count {
            let chunk = range.words[i..<min(i + wordsPerLine, range.words.count)]
            let address = range.start &+ UInt64(i * 8)
            let words = chunk.map { w in hexDigits(w) + (symbolize(w).map { " " + $0 } ?? "") }
            lines.append("    \(hexDigits(address)):  " + words.joined(separator: " "))
            i += wordsPerLine
        }
        if range.cut > 0 { lines.append("    (\(range.cut) more words to the caller's stack pointer not shown; at most \(maxWords) a frame)") }
        return lines
    }

    /// `bt`'s text with each real frame's words after its line.
    static func text(_ bt: Backtrace, context: TargetContext, tracer: Backtracer) -> String {
        let ranges = Dictionary(uniqueKeysWithValues: self.ranges(bt, memory: context.target.memory).map { ($0.frame, $0) })
        let modules = tracer.modules
        let symbols = context.target.symbols
        var out = [BacktraceCommand.header(bt)]
        for f in bt.frames {
            out.append(BacktraceCommand.frameLine(f))
            if let r = ranges[f.index] {
                out += lines(r) { FrameRegisters.codeSymbol($0, symbols: symbols, modules: modules) }
            }
        }
        return (out + bt.notes.map { "-- \($0)" }).joined(separator: "\n")
    }

    /// `stack_words` of `bt -f --json`: per real frame, its first address, the words, how many were cut.
    static func json(_ bt: Backtrace, context: TargetContext) -> JSONValue {
        .array(ranges(bt, memory: context.target.memory).map { r in
            .object([("frame", .int(Int64(r.frame))), ("address", jsonAddress(r.start)),
                     ("words", .array(r.words.map { .uint($0) })), ("cut", .int(Int64(r.cut))),
                     ("error", r.error.map { .string($0) } ?? .null)])
        })
    }
}
