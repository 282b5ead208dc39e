/// An instance's lifecycle state, as its `status` file says.
public enum InstanceStatus: String, Sendable {
    case empty, ready, loaded, active, failed, unknown

    public init(text: String) {
        let word = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init)?.lowercased() ?? ""
        self = InstanceStatus(rawValue: word) ?? .unknown
    }

    /// A kernel is (or was) in memory.
    public var hasKernel: Bool { self == .active || self == .loaded }
}
