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
        let index = context.selection.frame
        guard let kernel = try? context.kernel() else { return nil }
        // Most names asked are globals: frame 0's own variables say so without unwinding further.
        if index == 0, let first = try? context.selectedFirstFrame(budget: context.walkBudget()), first.frames.indices.contains(0),
           FrameVariableReader(kernel: kernel).variables(of: first, frame: 0, named: name).variable(named: name) == nil {
            return nil
        }
        guard let bt = try? context.selectedBacktrace(budget: context.walkBudget()),
              bt.frames.indices.contains(index) else { return nil }
        let f = bt.frames[index]
        let key = [bt.task, UInt64(index), f.pc, f.sp]
        if let cached, cached.key == key { return try cached.scope.variable(named: name) }
        let scope = FrameVariablesScope(kernel: kernel, backtrace: bt, frame: index)
        cached = (key, scope)
        return try scope.variable(named: name)
    }
}
