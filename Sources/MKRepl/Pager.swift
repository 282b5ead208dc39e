#if canImport(Glibc)
import Glibc
#endif
import MKCommands
import MKSystem

/// The REPL's output sink (`CommandRunner.output`): a command's output goes
/// straight to the terminal when it fits, and through a pager (`$PAGER`,
/// default `less -FRX`) once it has more rows than the terminal. Output is
/// held only until it outgrows the screen; from then on it streams to the
/// pager. Text piped with `| cmd` or redirected never comes here (the
/// runner writes it itself), nor do errors (standard error).
final class PagingOutput: OutputSink {
    static let defaultPager = "less -FRX"

    /// Whether to page at all: `set pagination` and standard output being
    /// a terminal, asked per command.
    var enabled: () -> Bool
    let pagerCommand: String
    /// Reports a pager that could not run.
    var warn: (String) -> Void = { _ in }

    private enum State {
        /// Not paging: straight to standard output.
        case direct
        /// Holding output until it outgrows the screen or the command ends.
        case holding
        case paging(UnsafeMutablePointer<FILE>)
        /// The pager quit early (q in less): the rest is dropped.
        case discarding(UnsafeMutablePointer<FILE>)
    }

    private var state = State.direct
    private var held: [String] = []
    private var heldRows = 0
    private var screenRows = 0
    private var columns = 80
    private var column = 0

    init(environment: [String: String], enabled: @escaping () -> Bool) {
        let configured = environment["PAGER"] ?? ""
        pagerCommand = configured.trimmingSpaces.isEmpty ? Self.defaultPager : configured
        self.enabled = enabled
    }

    /// Starts one command's output.
    func begin() {
        held = []
        heldRows = 0
        column = 0
        state = .direct
        if enabled(), let size = Terminal.size(1) {
            state = .holding
            screenRows = size.rows
            columns = size.columns
        }
    }

    func write(_ text: String) {
        switch state {
        case .direct:
            fputs(text, stdout)
            fflush(stdout)
        case .holding:
            held.append(text)
            heldRows += rows(text)
            // The output and the next prompt must fit on one screen.
            guard heldRows >= screenRows else { return }
            let all = held.joined()
            held = []
            fflush(stdout)
            if let p = popen(pagerCommand, "w") {
                state = .paging(p)
                send(all, p)
            } else {
                warn("cannot run pager \"\(pagerCommand)\": \(Errno.currentReason)")
                state = .direct
                write(all)
            }
        case let .paging(p):
            send(text, p)
        case .discarding:
            break
        }
    }

    /// Ends the command's output: prints what was held, or waits for the
    /// pager to quit.
    func finish() {
        switch state {
        case .holding:
            if !held.isEmpty {
                fputs(held.joined(), stdout)
                fflush(stdout)
            }
        case let .paging(p), let .discarding(p):
            let status = pclose(p)
            if status != -1, (status >> 8) & 0xff == 127 {
                warn("pager \"\(pagerCommand)\" could not run (status 127); set PAGER, or \"set pagination off\"")
            }
        case .direct:
            break
        }
        held = []
        state = .direct
    }

    /// A failed write means the pager is gone (SIGPIPE is caught, see `Repl`).
    private func send(_ text: String, _ p: UnsafeMutablePointer<FILE>) {
        if fputs(text, p) < 0 || fflush(p) != 0 { state = .discarding(p) }
    }

    /// Rows `text` takes on the screen, continuing from the current column:
    /// tabs to the next multiple of 8, long lines wrapped.
    func rows(_ text: String) -> Int {
        var rows = 0
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n":
                rows += 1
                column = 0
            case "\t":
                column = (column / 8 + 1) * 8
            default:
                if scalar.value >= 0x20 { column += 1 }
            }
            if column > columns {
                rows += 1
                column -= columns
            }
        }
        return rows
    }
}
