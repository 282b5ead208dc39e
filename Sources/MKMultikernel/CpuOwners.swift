/// Which kernel a physical CPU belongs to, from what the kernfs tells: an
/// instance's `cpus` make it that instance's; a CPU in the pool that no
/// instance holds is unassigned; a CPU outside the pool is the host's.
public struct CpuOwners: Equatable {
    public var instanceCpus: [(name: String, cpus: [UInt64])]
    /// The pool's CPUs; nil when the pool tree could not be read.
    public var poolCpus: [UInt64]?

    public static func == (a: CpuOwners, b: CpuOwners) -> Bool {
        a.poolCpus == b.poolCpus && a.instanceCpus.count == b.instanceCpus.count
            && zip(a.instanceCpus, b.instanceCpus).allSatisfy { $0.name == $1.name && $0.cpus == $1.cpus }
    }

    public init(instanceCpus: [(name: String, cpus: [UInt64])], poolCpus: [UInt64]?) {
        self.instanceCpus = instanceCpus
        self.poolCpus = poolCpus
    }

    public init(report: ResourceReport) {
        instanceCpus = report.instances.filter { $0.status != .empty }.map { ($0.name, $0.cpus) }
        poolCpus = report.pool.map { $0.cpus }
    }

    public enum Owner: Equatable {
        case instance(String)
        case host
        /// In the pool, held by no instance.
        case unassigned
        /// Not an instance's, and without a pool tree the host cannot be told apart.
        case unknown

        public var name: String {
            switch self {
            case let .instance(n): return n
            case .host: return "host"
            case .unassigned: return "unassigned"
            case .unknown: return "unknown"
            }
        }
    }

    public func owner(of cpu: Int64) -> Owner {
        guard cpu >= 0 else { return .unknown }
        let c = UInt64(cpu)
        if let i = instanceCpus.first(where: { $0.cpus.contains(c) }) { return .instance(i.name) }
        guard let pool = poolCpus, !pool.isEmpty else { return .unknown }
        return pool.contains(c) ? .unassigned : .host
    }
}
