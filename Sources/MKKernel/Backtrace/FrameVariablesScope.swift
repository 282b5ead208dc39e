import MKValues

/// The locals-and-arguments half of a `FrameScope`: a frame's variables,
/// read on the first lookup (a `p jiffies` with a frame selected does not
/// pay for them). Registers are another type's business: `register(named:)`
/// says nil. The evaluator holds its scope weakly: keep this alive.
public final class FrameVariablesScope: FrameScope {
    private let load: () -> FrameVariables
    private var loaded: FrameVariables?

    public init(_ variables: FrameVariables) {
        loaded = variables
        load = { variables }
    }

    /// Frame `frame` of `backtrace`, read when first asked.
    public init(kernel: Kernel, backtrace: Backtrace, frame: Int) {
        load = { FrameVariableReader(kernel: kernel).variables(of: backtrace, frame: frame) }
    }

    public var variables: FrameVariables {
        if let loaded { return loaded }
        let v = load()
        loaded = v
        return v
    }

    public func register(named name: String) throws -> Value? { nil }

    public func variable(named name: String) throws -> Value? {
        guard let v = variables.variable(named: name) else { return nil }
        if let error = v.error { throw EvaluationError("\(name): \(error)") }
        return v.value
    }
}
