#if canImport(Glibc)
import Glibc
#endif
import CReadline
import MKFormat

/// Every raw GNU readline call mkdbg makes (and the only file that imports
/// `CReadline`). Readline runs in its callback mode: mkdbg waits for input
/// itself with `poll`, so a Ctrl-C at the prompt (SIGINT caught into
/// `Cancellation`'s flag, which interrupts the `poll`) clears the line
/// instead of killing the process, and readline installs no SIGINT handler
/// of its own.
enum LineEditor {
    enum Input: Equatable {
        case line(String)
        case endOfFile
    }

    /// What completion found for the word before the cursor.
    enum Completion: Equatable {
        /// Words that start with the typed word. `complete` is false when
        /// the list was cut short (readline then inserts no common prefix
        /// beyond what was typed, which could be wrong). `appendSpace`
        /// adds a space after a unique match.
        case words([String], complete: Bool, appendSpace: Bool)
        /// File names, by readline's own file-name completion.
        case files
        case nothing
    }

    /// Decides completions; set by `configure`.
    nonisolated(unsafe) static var completer: ((_ before: String, _ word: String) -> Completion)?
    /// Whether the word at the cursor is a file name (words then break only
    /// at white space); set by `configure`.
    nonisolated(unsafe) static var isPathContext: ((_ lineBeforeCursor: String) -> Bool)?

    nonisolated(unsafe) private static var pending: Input?

    /// Sets readline up: emacs keys (unless ~/.inputrc says otherwise),
    /// no signal handlers of its own but SIGWINCH, no LINES/COLUMNS in the
    /// environment (the pager must see the real size), and mkdbg's completion.
    static func configure(name: String) {
        rl_readline_name = UnsafePointer(strdup(name))
        rl_editing_mode = 1 // emacs
        rl_catch_signals = 0
        rl_catch_sigwinch = 1
        rl_persistent_signal_handlers = 1
        rl_change_environment = 0
        rl_completion_query_items = 200
        rl_attempted_completion_function = attemptedCompletion
        rl_completion_word_break_hook = wordBreaks
        rl_initialize()
    }

    /// Reads one line with `prompt`. A Ctrl-C (the cancellation flag)
    /// clears the line and prompts again; Ctrl-D on an empty line, or a
    /// closed terminal, ends input.
    static func read(prompt: String) -> Input {
        pending = nil
        rl_callback_handler_install(prompt, lineHandler)
        let fd = rl_instream.map { fileno($0) } ?? 0
        while true {
            if let line = pending { return line }
            if Cancellation.isRequested {
                Cancellation.reset()
                clearLineAfterInterrupt()
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, -1)
            if n < 0 {
                if errno == EINTR {
                    rl_check_signals() // a window size change readline caught
                    continue
                }
                rl_callback_handler_remove()
                return .endOfFile
            }
            if p.revents & Int16(POLLIN) == 0 && p.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                rl_callback_handler_remove()
                return .endOfFile
            }
            rl_callback_read_char()
        }
    }

    private static let lineHandler: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { text in
        if let text {
            LineEditor.pending = .line(String(cString: text))
            free(text)
        } else {
            LineEditor.pending = .endOfFile
        }
        // Hand the terminal back (cooked mode) while the command runs.
        rl_callback_handler_remove()
    }

    /// Ctrl-C at the prompt: show ^C as the terminal would, drop the line
    /// and any half-done search or completion, prompt again below.
    private static func clearLineAfterInterrupt() {
        rl_free_line_state()
        rl_callback_sigcleanup()
        rl_echo_signal_char(SIGINT)
        rl_replace_line("", 0)
        rl_point = 0
        rl_mark = 0
        using_history()
        rl_crlf()
        rl_on_new_line()
        rl_redisplay()
    }

    // MARK: completion

    /// White space only (file names), or every character that cannot be in
    /// a C identifier, a number or a format (everything else).
    private static let pathBreaks = strdup(" \t\n")!
    private static let wordBreakCharacters = strdup(" \t\n\"'`@><=;|&{}()[].-+*/%!~^,?:#\\")!

    private static let wordBreaks: @convention(c) () -> UnsafeMutablePointer<CChar>? = {
        let before = LineEditor.lineBeforeCursor(Int(rl_point))
        return LineEditor.isPathContext?(before) == true ? LineEditor.pathBreaks : LineEditor.wordBreakCharacters
    }

    private static func lineBeforeCursor(_ end: Int) -> String {
        guard let buffer = rl_line_buffer, end > 0 else { return "" }
        let n = min(end, Int(rl_end))
        return buffer.withMemoryRebound(to: UInt8.self, capacity: n) {
            String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
        }
    }

    private static let attemptedCompletion: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, start, _ in
        rl_attempted_completion_over = 1
        guard let completer = LineEditor.completer, let text else { return nil }
        let before = LineEditor.lineBeforeCursor(Int(start))
        switch completer(before, String(cString: text)) {
        case .nothing:
            return nil
        case .files:
            rl_attempted_completion_over = 0 // readline's file-name completion
            return nil
        case let .words(words, complete, appendSpace):
            guard !words.isEmpty else { return nil }
            if !appendSpace { rl_completion_append_character = 0 }
            return LineEditor.matchArray(words, typed: String(cString: text), complete: complete)
        }
    }

    /// Readline's match list: the text to insert (the longest common
    /// prefix), then the matches, then NULL; all malloc'd (readline frees them).
    private static func matchArray(_ words: [String], typed: String, complete: Bool) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let list = words.count == 1 && complete ? [] : words
        let insert = words.count == 1 && complete ? words[0] : (complete ? commonPrefix(words) : typed)
        let array = malloc((list.count + 2) * MemoryLayout<UnsafeMutablePointer<CChar>?>.stride)!
            .bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: list.count + 2)
        array[0] = strdup(insert)
        for (i, w) in list.enumerated() { array[i + 1] = strdup(w) }
        array[list.count + 1] = nil
        return array
    }

    static func commonPrefix(_ words: [String]) -> String {
        guard var prefix = words.first.map(Array.init) else { return "" }
        for w in words.dropFirst() {
            var n = 0
            for c in w {
                guard n < prefix.count, prefix[n] == c else { break }
                n += 1
            }
            prefix.removeSubrange(n...)
        }
        return String(prefix)
    }

    // MARK: history

    /// Keeps at most `limit` entries in memory.
    static func limitHistory(_ limit: Int) {
        using_history()
        stifle_history(Int32(limit))
    }

    /// Loads a history file (missing or empty is fine).
    static func loadHistory(_ path: String) {
        _ = read_history(path)
        using_history()
    }

    /// The newest entry, if any.
    static var lastHistoryLine: String? {
        guard history_length > 0, let entry = history_get(history_base + history_length - 1), let line = entry.pointee.line else {
            return nil
        }
        return String(cString: line)
    }

    static func addHistory(_ line: String) {
        add_history(line)
    }

    /// Appends the newest `count` entries to the file (which must exist).
    @discardableResult
    static func appendHistory(_ count: Int, to path: String) -> Int32 {
        append_history(Int32(count), path)
    }

    /// Cuts the file down to its last `lines` lines.
    static func truncateHistoryFile(_ path: String, lines: Int) {
        _ = history_truncate_file(path, Int32(lines))
    }
}
