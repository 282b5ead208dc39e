#if canImport(Glibc)
import Glibc
#endif

/// What the REPL needs to know about the terminal, and the only place that
/// writes colour: the prompt in bold, errors in red. Colour only on a
/// terminal, never with `NO_COLOR` set (to anything but the empty string,
/// as no-color.org says) or `TERM=dumb`.
struct Terminal {
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 }

    /// Rows and columns of the terminal on `fd`, when it is one.
    static func size(_ fd: Int32) -> (rows: Int, columns: Int)? {
        var ws = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0 else { return nil }
        return (Int(ws.ws_row), max(Int(ws.ws_col), 1))
    }

    static func colourWanted(fd: Int32, environment: [String: String]) -> Bool {
        guard isTerminal(fd) else { return false }
        if let v = environment["NO_COLOR"], !v.isEmpty { return false }
        if environment["TERM"] == "dumb" { return false }
        return true
    }
}

struct Style {
    var colour: Bool

    static let bold = "\u{1B}[1m"
    static let red = "\u{1B}[31m"
    static let reset = "\u{1B}[0m"

    /// A prompt for readline: escape sequences wrapped in \001 \002 so it
    /// knows they take no room on the screen.
    func prompt(_ text: String) -> String {
        guard colour else { return text + " " }
        return "\u{01}\(Style.bold)\u{02}\(text)\u{01}\(Style.reset)\u{02} "
    }

    func error(_ text: String) -> String {
        colour ? Style.red + text + Style.reset : text
    }
}

/// The prompt's text: `(mkdbg vmcore.elf)`, or `(mkdbg)` without a target.
func promptText(name: String?) -> String {
    guard let name, !name.isEmpty else { return "(mkdbg)" }
    return "(mkdbg \(name))"
}
