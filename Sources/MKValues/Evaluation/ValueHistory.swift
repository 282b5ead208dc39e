/// gdb's value history: `$1`, `$2`, …; `$` is the last, `$$` the one
/// before, `$$N` N back.
public struct ValueHistory {
    public private(set) var values: [Value] = []

    public init() {}

    /// Records a value and returns its number.
    public mutating func record(_ v: Value) -> Int {
        values.append(v)
        return values.count
    }

    public func lookup(_ ref: HistoryReference) -> Value? {
        switch ref {
        case let .absolute(n):
            guard n >= 1, n <= values.count else { return nil }
            return values[n - 1]
        case let .relative(back):
            let i = values.count - 1 - back
            guard i >= 0, i < values.count else { return nil }
            return values[i]
        }
    }
}
