import MKValues

/// The locals-and-arguments half of a `FrameScope`: a frame's variables,
/// read on the first lookup (a `p jiffies` with a frame selected does not
/// pay for them). Registers are another type's business: `register(named:)`
/// says nil. The evaluator holds its scope weakly: keep this alive.
public final class FrameVariablesScope: FrameScope {
    private let load: (String?) -> FrameVariables
    private var loaded: FrameVariables?
    /// One name's lookup before all were read: only that name's DIEs and types.
    private var byName: [String: FrameVariable?] = [:]

    public init(_ variables: FrameVariables) {
        loaded = variables
        load = { _ in variables }
    }

    /// Frame `frame` of `backtrace`, read when first asked.
    public init(kernel: Kernel, backtrace: Backtrace, frame: Int) {
        load = { FrameVariableReader(kernel: kernel).variables(of: backtrace, frame: frame, named: $0) }
    }

    public var variables: FrameVariables {
        if let loaded { return loaded }
        let v = load(nil)
        loaded = v
        return v
    }

    public func register(named name: String) throws -> Value? { nil }

    public func variable(named name: String) throws -> Value? {
        let found: FrameVariable?
        if let loaded {
            found = loaded.variable(named: name)
        } else if let known = byName[name] {
            found = known
        } else {
            found = load(name).variable(named: name)
            if byName.count < 4096 { byName[name] = found }
        }
        guard let v = found else { return nil }
        if let error = v.error { throw EvaluationError("\(name): \(error)") }
        return v.value
    }
}
