import MKFormat
import MKMemory
import MKDebugInfo

/// The three kinds of SysV IPC object, numbered as `ipc_namespace.ids[]` is (IPC_SEM_IDS …).
public enum IPCKind: Int, CaseIterable {
    case semaphores = 0, messages = 1, sharedMemory = 2

    /// The struct that embeds the object's `kern_ipc_perm`, and that member's name.
    var container: (type: String, perm: String) {
        switch self {
        case .semaphores: return ("struct sem_array", "sem_perm")
        case .messages: return ("struct msg_queue", "q_perm")
        case .sharedMemory: return ("struct shmid_kernel", "shm_perm")
        }
    }
}

/// One SysV IPC object: its `kern_ipc_perm` and what its kind adds.
public struct IPCObject: Equatable {
    public var kind: IPCKind
    /// The `shmid_kernel`, `sem_array` or `msg_queue`.
    public var address: UInt64
    /// Its index in the namespace's IDR (`ipcid_to_idx(id)`).
    public var index: UInt64
    public var key: UInt32
    public var id: Int64
    public var uid: UInt64
    public var gid: UInt64
    public var mode: UInt64
    public var deleted: Bool
    /// shm: `shm_segsz`; msg: `q_cbytes`; sem: 0.
    public var bytes: UInt64
    /// shm: `shm_nattch`; msg: `q_qnum`; sem: `sem_nsems`.
    public var count: UInt64

    /// crash's STATUS of a segment: `dest` (SHM_DEST) and `locked` (SHM_LOCKED).
    public var shmStatus: [String] {
        (mode & 0o1000 != 0 ? ["dest"] : []) + (mode & 0o2000 != 0 ? ["locked"] : [])
    }
}

/// The objects of one namespace, by kind, and what went wrong finding them.
public struct IPCObjects {
    public var namespace: UInt64
    public var objects: [IPCObject] = []
    /// `ids[kind].in_use`, the kernel's own count.
    public var inUse: [IPCKind: Int64] = [:]
    public var warnings: [WalkWarning] = []
}

extension Kernel {
    /// The IPC namespace of a task (`nsproxy->ipc_ns`), or `init_ipc_ns`.
    public func ipcNamespace(task: UInt64?) throws -> UInt64 {
        guard let task else { return try address(of: "init_ipc_ns") }
        let t = try field("nsproxy", in: type("struct task_struct"))
        let nsproxy = try readObject(at: task, covering: [t]).unsigned(t) ?? 0
        guard nsproxy != 0 else {
            throw KernelError.outOfRange(value: task, maximum: nil, message: "task \(hex(task)) has no nsproxy (it is exiting)")
        }
        let ns = try field("ipc_ns", in: type("struct nsproxy"))
        return try readObject(at: nsproxy, covering: [ns]).unsigned(ns) ?? 0
    }

    /// The objects of `kinds` in the IPC namespace at `namespace`: each
    /// `ids[kind].ipcs_idr`'s xarray walked (bounded by `budget`, cycle-checked),
    /// each entry a `kern_ipc_perm` inside its kind's struct. A walk that finds
    /// other than `in_use` objects says so.
    public func ipcObjects(namespace: UInt64, kinds: [IPCKind], budget: WalkBudget) throws -> IPCObjects {
        let ns = try type("struct ipc_namespace")
        let idsField = try field("ids", in: ns)
        let ids = try type("struct ipc_ids")
        guard let idsSize = ids.byteSize, idsSize > 0, let n = idsField.type.resolved.count, n >= 3 else {
            throw KernelError.unsupportedLayout(what: "struct ipc_namespace.ids", message: "ipc_namespace.ids is not an array of 3 ipc_ids")
        }
        let inUse = try field("in_use", in: ids)
        let idr = try offset(of: "ipcs_idr", in: ids) &+ offset(of: "idr_rt", in: type("struct idr"))
        let idrBase = try field("ipcs_idr.idr_base", in: ids)
        let perm = try type("struct kern_ipc_perm")
        let permFields = [try field("id", in: perm), try field("key", in: perm), try field("uid", in: perm), try field("gid", in: perm),
                          try field("mode", in: perm), try field("deleted", in: perm)]
        var out = IPCObjects(namespace: namespace)
        let label = (try? address(of: "init_ipc_ns")) == namespace ? "init_ipc_ns" : "ipc_namespace \(hex(namespace))"
        for kind in kinds {
            let at = namespace &+ UInt64(idsField.offset) &+ UInt64(kind.rawValue) &* idsSize
            let head = try readObject(at: at, covering: [inUse, idrBase])
            out.inUse[kind] = head.signed(inUse) ?? 0
            let base = head.unsigned(idrBase) ?? 0
            let name = "\(label).ids[\(kind.rawValue)]"
            let walk = try xarrayEntries(at: at &+ idr, budget: budget, name: name)
            out.warnings += walk.warnings
            let container = try type(kind.container.type)
            let permOffset = try offset(of: kind.container.perm, in: container)
            let extra: [Field]
            switch kind {
            case .sharedMemory: extra = [try field("shm_segsz", in: container), try field("shm_nattch", in: container)]
            case .messages: extra = [try field("q_cbytes", in: container), try field("q_qnum", in: container)]
            case .semaphores: extra = [try field("sem_nsems", in: container)]
            }
            var found = 0
            for e in walk.entries {
                let object = e.pointer &- permOffset
                do {
                    let p = try readObject(at: e.pointer, covering: permFields)
                    let x = try readObject(at: object, covering: extra)
                    let bytes = kind == .semaphores ? 0 : x.unsigned(extra[0]) ?? 0
                    let count = kind == .semaphores ? UInt64(bitPattern: x.signed(extra[0]) ?? 0) : x.unsigned(extra[1]) ?? 0
                    out.objects.append(IPCObject(kind: kind, address: object, index: e.index &+ base,
                                                 key: UInt32(truncatingIfNeeded: p.unsigned(permFields[1]) ?? 0),
                                                 id: p.signed(permFields[0]) ?? -1, uid: p.unsigned(permFields[2]) ?? 0,
                                                 gid: p.unsigned(permFields[3]) ?? 0, mode: p.unsigned(permFields[4]) ?? 0,
                                                 deleted: (p.unsigned(permFields[5]) ?? 0) != 0, bytes: bytes, count: count))
                    found += 1
                } catch {
                    out.warnings.append(WalkWarning(address: e.pointer, message: "\(name): cannot read entry \(e.index): \(error)"))
                }
            }
            if walk.complete, Int64(found) != out.inUse[kind] {
                out.warnings.append(WalkWarning(address: at, message: "\(name): in_use is \(out.inUse[kind] ?? 0), the IDR holds \(found)"))
            }
        }
        return out
    }
}
