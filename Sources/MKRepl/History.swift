#if canImport(Glibc)
import Glibc
#endif
import MKSystem

/// The REPL's command history, kept across sessions in
/// `$XDG_STATE_HOME/mkdbg/history` (default `~/.local/state/mkdbg/history`):
/// created private (0600, directories 0700), appended to after every
/// command so concurrent or crashed sessions keep theirs, bounded to
/// `limit` lines. A line equal to the one before it is not stored again.
final class History {
    static let limit = 10_000

    /// Where the file lives, or nil when there is no home to put it in.
    static func defaultPath(environment: [String: String]) -> String? {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/mkdbg/history"
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return home + "/.local/state/mkdbg/history"
    }

    /// The file, or nil when it could not be created (history then lasts
    /// for this session only).
    let path: String?
    /// Why the file could not be used, to say once.
    private(set) var problem: String?

    init(path: String?) {
        LineEditor.limitHistory(Self.limit)
        guard let path else {
            self.path = nil
            problem = "no HOME or XDG_STATE_HOME: history is not saved"
            return
        }
        if let error = Self.create(path) {
            self.path = nil
            problem = "history is not saved: \(error)"
            return
        }
        self.path = path
        LineEditor.truncateHistoryFile(path, lines: Self.limit)
        LineEditor.loadHistory(path)
    }

    /// Records a line the user typed (not a repeat by Enter, not blank).
    func add(_ line: String) {
        guard !line.trimmingSpaces.isEmpty, line != LineEditor.lastHistoryLine else { return }
        LineEditor.addHistory(line)
        if let path { LineEditor.appendHistory(1, to: path) }
    }

    /// Bounds the file at the end of a session.
    func close() {
        if let path { LineEditor.truncateHistoryFile(path, lines: Self.limit) }
    }

    /// Makes the parent directories (0700) and the file (0600); returns
    /// why it failed, if it did.
    static func create(_ path: String) -> String? {
        var dir = ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        for part in parts {
            dir += "/" + part
            do {
                try FileSystem.makeDirectory(dir, permissions: 0o700)
            } catch let e as Errno {
                return "cannot create \(dir): \(e.reason)"
            } catch {
                return "cannot create \(dir): \(error)"
            }
        }
        do {
            try FileDescriptor(open: path, O_WRONLY | O_CREAT | O_APPEND, permissions: 0o600).close()
        } catch let e as Errno {
            return "cannot open \(path): \(e.reason)"
        } catch {
            return "cannot open \(path): \(error)"
        }
        return nil
    }
}
