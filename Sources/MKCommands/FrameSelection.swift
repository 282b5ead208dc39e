import MKKernel

/// The task and frame a target's frame commands refer to (`frame`, `up`,
/// `info registers`, `info locals`, `$pc`, the `=>` of `dis`): set by
/// `bt PID`, crash's `set PID|TASK`, `frame N`, `up` and `down`.
public struct FrameSelection: Equatable, Sendable {
    /// nil: the task a bare `bt` shows (the panicking CPU's, else CPU 0's).
    public var task: UInt64?
    /// Index into that task's backtrace (inline frames count, as in `bt`).
    public var frame: Int = 0

    public init(task: UInt64? = nil, frame: Int = 0) {
        self.task = task
        self.frame = frame
    }
}

extension TargetContext {
    /// A backtracer over this target with its module debug files and the
    /// session's walk budget.
    func backtracer(budget: WalkBudget) throws -> Backtracer {
        let tracer = try Backtracer(kernel: try kernel())
        tracer.moduleDebugFiles = moduleDebugFiles
        tracer.budget = budget
        return tracer
    }

    /// The selected task's backtrace. Kept for an image (it cannot change);
    /// walked again each time on a live instance.
    func selectedBacktrace(budget: WalkBudget) throws -> Backtrace {
        let tracer = try backtracer(budget: budget)
        return try backtrace(task: selection.task ?? tracer.defaultTask().task, tracer: tracer)
    }

    /// The selected task's innermost physical frame alone (no unwinding past
    /// it), unless its whole backtrace is at hand: enough to tell whether a
    /// name is one of frame 0's variables.
    func selectedFirstFrame(budget: WalkBudget) throws -> Backtrace {
        let tracer = try backtracer(budget: budget)
        let task = try selection.task ?? tracer.defaultTask().task
        if !isLive, let cached = backtraceCache[task] { return cached }
        return try tracer.backtrace(task: task, physicalFrames: 1)
    }

    /// A task's backtrace, walked once per image.
    func backtrace(task: UInt64, tracer: Backtracer) throws -> Backtrace {
        if !isLive, let cached = backtraceCache[task] { return cached }
        let bt = try tracer.backtrace(task: task)
        if !isLive { backtraceCache[task] = bt }
        return bt
    }

    /// The selected frame, nil when the task's stack has no frames.
    func selectedFrame(budget: WalkBudget) throws -> BacktraceFrame? {
        let bt = try selectedBacktrace(budget: budget)
        return bt.frames.indices.contains(selection.frame) ? bt.frames[selection.frame] : nil
    }
}
