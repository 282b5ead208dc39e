/// What one command may spend walking kernel memory: how many links it may
/// follow in all its walks together (tasks, threads, modules, printk
/// descriptors, `list`, CPUs, and the walkers still to come), and how many
/// warnings it keeps. A command makes one (`Session.walkBudget()`, bounded
/// by `set walk-limit`) and hands it to every walker it runs, so a hostile
/// image cannot make one command run long, or hold or print more than the
/// budget allows, however many lists it walks.
public final class WalkBudget {
    /// Links per command unless `set walk-limit` says otherwise: ample for a
    /// real kernel's tasks, and walked in about a second.
    public static let defaultLimit = 250_000
    /// Warnings kept per command, and of one kind; the others are counted.
    public static let defaultWarningLimit = 100
    public static let defaultWarningsPerKind = 10
    /// The session setting that raises the limit.
    public static let setting = "walk-limit"

    public let limit: Int
    public let warningLimit: Int
    public let warningsPerKind: Int
    public private(set) var used = 0
    public private(set) var warningsKept = 0
    private var keptByKind: [String: Int] = [:]
    /// Warnings dropped, by kind, in the order the kinds first dropped one.
    private var dropped: [(kind: String, count: Int)] = []

    public init(limit: Int = WalkBudget.defaultLimit, warningLimit: Int = WalkBudget.defaultWarningLimit,
                warningsPerKind: Int = WalkBudget.defaultWarningsPerKind) {
        self.limit = max(1, limit)
        self.warningLimit = max(1, warningLimit)
        self.warningsPerKind = max(1, warningsPerKind)
    }

    public var remaining: Int { max(0, limit - used) }
    public var isSpent: Bool { used >= limit }

    /// Spends one step (a link followed, a record or CPU visited); false when
    /// none is left, or `reserve` steps are all that is left.
    public func take(leaving reserve: Int = 0) -> Bool {
        guard used < limit - min(max(0, reserve), limit) else { return false }
        used += 1
        return true
    }

    /// Whether to keep one more warning of `kind` (a short name for what
    /// went wrong: "implausible pid", "thread list"): a command keeps
    /// `warningsPerKind` of a kind and `warningLimit` in all, and counts the
    /// rest, so one damaged structure repeated a million times cannot crowd
    /// out the others or fill memory. Build the warning only when this says yes.
    public func keepWarning(_ kind: String) -> Bool {
        let ofKind = keptByKind[kind, default: 0]
        if warningsKept < warningLimit && ofKind < warningsPerKind {
            warningsKept += 1
            keptByKind[kind] = ofKind + 1
            return true
        }
        if let i = dropped.firstIndex(where: { $0.kind == kind }) {
            dropped[i].count += 1
        } else {
            dropped.append((kind, 1))
        }
        return false
    }

    public var warningsDropped: Int { dropped.reduce(0) { $0 + $1.count } }

    /// One line per kind of warning dropped, for the end of a command's warnings.
    public var droppedSummaries: [String] {
        dropped.map { d in
            "\(d.count) more \(d.kind) warning\(d.count == 1 ? "" : "s") not shown "
                + "(a command keeps \(warningsPerKind) of a kind, \(warningLimit) in all)"
        }
    }

    /// Why a walk that stopped for want of budget stopped, for its warning.
    public func spentMessage(entries: Int, reserve: Int) -> String {
        if reserve > 0 {
            return "stopped after \(entries) entries, half of what was left of the walk budget of \(limit) links per "
                + "command (the rest is kept for the command's other walks; set \(Self.setting) N raises it)"
        }
        return "stopped after \(entries) entries: the walk budget of \(limit) links per command is spent "
            + "(set \(Self.setting) N raises it)"
    }
}
