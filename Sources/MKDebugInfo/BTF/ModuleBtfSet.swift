/// The loaded modules' split BTF, in the order their types are looked up,
/// and why a module's could not be read (named, so `info debuginfo` can say).
public struct ModuleBtfSet {
    public var modules: [BtfTypes] = []
    public var problems: [String] = []

    public init(modules: [BtfTypes] = [], problems: [String] = []) {
        self.modules = modules
        self.problems = problems
    }
}
