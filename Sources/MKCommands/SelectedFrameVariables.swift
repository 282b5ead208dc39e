import MKValues
import MKKernel

/// The locals and arguments of a target's selected frame, for the
/// evaluator (`SelectedFrameScope.locals`): it follows the selection, so
/// after `frame 3` `p fmt` is panic's argument. The variables of one frame
/// are read once, on the first name asked.
final class SelectedFrameVariables: FrameScope {
    private weak var context: TargetContext?
    /// The frame last read (task, index, pc, sp) and its variables.
    private var cached: (key: [UInt64], scope: FrameVariablesScope)?

    init(context: TargetContext) { self.context = context }

    func register(named name: String) throws -> Value? { nil }

    /// Set while the frame's variables are being found: names asked meanwhile are globals.
    private var reading = false

    func variable(named name: String) throws -> Value? {
        guard let context, !reading else { return nil }
        reading = true
        defer { reading = false }
        // No frame to speak of (no stack, or no kernel): names fall through to the globals.
        guard let kernel = try? context.kernel(), let bt = try? context.selectedBacktrace(budget: context.walkBudget()),
              bt.frames.indices.contains(context.selection.frame) else { return nil }
        let index = context.selection.frame
        let f = bt.frames[index]
        let key = [bt.task, UInt64(index), f.pc, f.sp]
        if let cached, cached.key == key { return try cached.scope.variable(named: name) }
        let scope = FrameVariablesScope(kernel: kernel, backtrace: bt, frame: index)
        cached = (key, scope)
        return try scope.variable(named: name)
    }
}
