import MKFormat
import MKMemory
import MKDebugInfo

/// One mount of a mount namespace, as crash's `mount` shows it.
public struct MountEntry: Equatable {
    /// The `struct mount`.
    public var mount: UInt64
    public var superBlock: UInt64
    /// `sb->s_type->name`.
    public var type: String
    /// `mnt_devname`.
    public var devName: String
    /// The mount point's path, through the parent mounts.
    public var dirName: String
}

/// A mount namespace's mounts and what went wrong reading them.
public struct MountNamespaceMounts {
    public var namespace: UInt64
    public var mounts: [MountEntry] = []
    public var warnings: [WalkWarning] = []
}

/// Where `nsproxy`, `mnt_namespace`, `mount`, `super_block` and
/// `file_system_type` keep what `mount` shows, from DWARF. The namespace's
/// mounts are a list (`mnt_namespace.list` of `mount.mnt_list`, up to 6.7)
/// or an rbtree (`mnt_namespace.mounts` of `mount.mnt_node`, 6.8 on).
public struct MountLayout {
    public enum Links {
        case list(head: UInt64, node: UInt64)
        case rbtree(root: UInt64, node: UInt64)
    }
    public let taskNsproxy: Field
    public let nsMnt: Field
    public let links: Links
    public let mountMnt: UInt64
    public let devName: Field
    public let mntSb: Field
    public let sbType: Field
    public let fsName: Field
    public let paths: DentryPathLayout

    public init(_ kernel: Kernel) throws {
        taskNsproxy = try kernel.field("nsproxy", in: kernel.type("struct task_struct"))
        nsMnt = try kernel.field("mnt_ns", in: kernel.type("struct nsproxy"))
        let ns = try kernel.type("struct mnt_namespace")
        let mount = try kernel.type("struct mount")
        if let head = try? kernel.offset(of: "list", in: ns) {
            links = .list(head: head, node: try kernel.offset(of: "mnt_list", in: mount))
        } else if let root = try? kernel.offset(of: "mounts", in: ns), let node = try? kernel.offset(of: "mnt_node", in: mount) {
            links = .rbtree(root: root, node: node)
        } else {
            throw KernelError.unsupportedLayout(what: "struct mnt_namespace", message: "struct mnt_namespace has neither "
                + "list (a list of mount.mnt_list) nor mounts (an rbtree of mount.mnt_node)")
        }
        mountMnt = try kernel.offset(of: "mnt", in: mount)
        devName = try kernel.field("mnt_devname", in: mount)
        mntSb = try kernel.field("mnt_sb", in: kernel.type("struct vfsmount"))
        sbType = try kernel.field("s_type", in: kernel.type("struct super_block"))
        fsName = try kernel.field("name", in: kernel.type("struct file_system_type"))
        paths = try DentryPathLayout(kernel)
    }
}

extension Kernel {
    /// The mount namespace of `task` (`task->nsproxy->mnt_ns`).
    public func mountNamespace(task: UInt64, layout: MountLayout) throws -> UInt64 {
        let nsproxy = try readObject(at: task, covering: [layout.taskNsproxy]).unsigned(layout.taskNsproxy) ?? 0
        guard nsproxy != 0 else {
            throw KernelError.implausible(what: "task_struct.nsproxy", value: 0, address: task,
                                          message: "task \(hex(task)) has no nsproxy (an exiting task): no mount namespace")
        }
        let ns = try readObject(at: nsproxy, covering: [layout.nsMnt]).unsigned(layout.nsMnt) ?? 0
        guard ns != 0 else {
            throw KernelError.implausible(what: "nsproxy.mnt_ns", value: 0, address: nsproxy,
                                          message: "nsproxy \(hex(nsproxy)) has a NULL mnt_ns")
        }
        return ns
    }

    /// The mounts of the mount namespace at `namespace`, in the kernel's
    /// order (list order, or the rbtree's key order). The walk is bounded by
    /// `budget` and stops at a cycle or a broken link with a warning.
    public func mounts(namespace: UInt64, layout: MountLayout, budget: WalkBudget) throws -> MountNamespaceMounts {
        var out = MountNamespaceMounts(namespace: namespace)
        var mounts: [UInt64] = []
        switch layout.links {
        case let .list(head, node):
            let walk = ListWalker(memory: memory, budget: budget).walk(head: namespace &+ head)
            out.warnings += walk.warnings
            mounts = walk.nodes.map { $0 &- node }
        case let .rbtree(root, node):
            let first = try memory.readVirtualU64(namespace &+ root)
            let walk = try RBTreeWalker(kernel: self, budget: budget).walk(root: first)
            out.warnings += walk.warnings
            mounts = walk.nodes.map { $0 &- node }
        }
        for m in mounts {
            do {
                out.mounts.append(try mountEntry(m, layout: layout, budget: budget, warnings: &out.warnings))
            } catch {
                if budget.keepWarning("unreadable mount") {
                    out.warnings.append(WalkWarning(address: m, message: "cannot read the struct mount: \(error)"))
                }
            }
        }
        return out
    }

    private func mountEntry(_ m: UInt64, layout: MountLayout, budget: WalkBudget,
                            warnings: inout [WalkWarning]) throws -> MountEntry {
        let vfsmnt = m &+ layout.mountMnt
        let dev = try readObject(at: m, covering: [layout.devName]).unsigned(layout.devName) ?? 0
        let sb = try readObject(at: vfsmnt, covering: [layout.mntSb]).unsigned(layout.mntSb) ?? 0
        var type = ""
        if sb != 0 {
            let fs = try readObject(at: sb, covering: [layout.sbType]).unsigned(layout.sbType) ?? 0
            if fs != 0 {
                let name = try readObject(at: fs, covering: [layout.fsName]).unsigned(layout.fsName) ?? 0
                if name != 0 { type = try memory.readCString(name, limit: 256) }
            }
        }
        let devName = dev == 0 ? "" : ((try? memory.readCString(dev, limit: 4096)) ?? "?")
        // The mount's root dentry in itself: the path walk goes on from its mount point in the parent.
        let root = try readObject(at: vfsmnt, covering: [layout.paths.mntRoot]).unsigned(layout.paths.mntRoot) ?? 0
        let path = dentryPath(mnt: vfsmnt, dentry: root, layout: layout.paths, budget: budget)
        warnings += path.warnings
        return MountEntry(mount: m, superBlock: sb, type: type, devName: devName, dirName: path.path)
    }
}
