import MKFormat
import MKMemory
import MKDebugInfo

/// Where `struct path`, `dentry`, `vfsmount` and `mount` keep what a path
/// walk needs, from DWARF.
public struct DentryPathLayout {
    public let pathMnt: Field
    public let pathDentry: Field
    public let dParent: Field
    public let nameLength: Field
    public let namePointer: Field
    public let dInode: Field
    public let mntRoot: Field
    public let mountParent: Field
    public let mountMountpoint: Field
    /// Offset of the `vfsmount` inside its `struct mount`.
    public let mountMnt: Int
    public let dentryFields: [Field]
    /// For pseudo filesystems' names (`socket:[INO]`): `dentry.d_op`, its `d_dname`, `inode.i_ino`.
    let dOp: Field?
    let dDname: Field?
    let iIno: Field?

    public init(_ kernel: Kernel) throws {
        let path = try kernel.type("struct path")
        pathMnt = try kernel.field("mnt", in: path)
        pathDentry = try kernel.field("dentry", in: path)
        let dentry = try kernel.type("struct dentry")
        dParent = try kernel.field("d_parent", in: dentry)
        nameLength = try kernel.field("d_name.len", in: dentry)
        namePointer = try kernel.field("d_name.name", in: dentry)
        dInode = try kernel.field("d_inode", in: dentry)
        mntRoot = try kernel.field("mnt_root", in: kernel.type("struct vfsmount"))
        let mount = try kernel.type("struct mount")
        mountParent = try kernel.field("mnt_parent", in: mount)
        mountMountpoint = try kernel.field("mnt_mountpoint", in: mount)
        mountMnt = try kernel.field("mnt", in: mount).offset
        dentryFields = [dParent, nameLength, namePointer, dInode]
        dOp = try? kernel.field("d_op", in: dentry)
        dDname = try? kernel.field("d_dname", in: kernel.type("struct dentry_operations"))
        iIno = try? kernel.field("i_ino", in: kernel.type("struct inode"))
    }
}

/// A path as `d_path` would build it, and what went wrong on the way.
public struct DentryPath {
    /// The path; one whose walk stopped short starts with `?` (the part not known).
    public var path: String
    public var warnings: [WalkWarning] = []
    /// The walk reached the root.
    public var complete = true
}

extension Kernel {
    /// The absolute path of (`vfsmount`, `dentry`): each dentry's name up
    /// its `d_parent`s to the mount's root, then on from the mount point in
    /// the parent mount, up to the root of the mount tree. A dentry that is
    /// its own parent but not its mount's root (a detached or pseudo
    /// filesystem's) ends the walk there. Each step spends one of `budget`;
    /// a dentry or mount met twice, an unreadable one, or more than 4096
    /// components stop the walk with a warning, the path so far kept after a `?`.
    public func dentryPath(mnt: UInt64, dentry: UInt64, layout: DentryPathLayout, budget: WalkBudget) -> DentryPath {
        var parts: [String] = []
        var warnings: [WalkWarning] = []
        var seen = Set<UInt64>()
        var dentry = dentry
        var vfsmnt = mnt
        func finish(cut: Bool = true) -> DentryPath {
            let path = "/" + parts.reversed().joined(separator: "/")
            return DentryPath(path: cut ? "?" + (parts.isEmpty ? "" : path) : path, warnings: warnings, complete: !cut)
        }
        func warn(_ kind: String, _ address: UInt64, _ message: @autoclosure () -> String) {
            if budget.keepWarning(kind) { warnings.append(WalkWarning(address: address, message: message())) }
        }
        if dentry == 0 { return DentryPath(path: "", warnings: []) }
        while true {
            guard parts.count < 4096 else {
                warn("path depth", dentry, "more than 4096 path components; the path is cut")
                return finish()
            }
            guard budget.take() else {
                warn("walk budget", dentry, "the path is cut after \(parts.count) component\(parts.count == 1 ? "" : "s"): the walk "
                     + "budget of \(budget.limit) links per command is spent (set \(WalkBudget.setting) N raises it)")
                return finish()
            }
            guard seen.insert(dentry).inserted else {
                warn("path cycle", dentry, "dentry \(hex(dentry)) is met twice on the way to the root (a cycle)")
                return finish()
            }
            let d: ObjectBytes
            do {
                d = try readObject(at: dentry, covering: layout.dentryFields)
            } catch {
                warn("unreadable dentry", dentry, "cannot read the dentry: \(error)")
                return finish()
            }
            let parent = d.unsigned(layout.dParent) ?? 0
            let root: UInt64
            do {
                root = vfsmnt == 0 ? 0 : try readObject(at: vfsmnt, covering: [layout.mntRoot]).unsigned(layout.mntRoot) ?? 0
            } catch {
                warn("unreadable vfsmount", vfsmnt, "cannot read the vfsmount: \(error)")
                return finish()
            }
            if dentry == root {
                // The mount's root: go on from its mount point in the parent mount, if it has one.
                let mount = vfsmnt &- UInt64(layout.mountMnt)
                let m: ObjectBytes
                do {
                    m = try readObject(at: mount, covering: [layout.mountParent, layout.mountMountpoint])
                } catch {
                    warn("unreadable mount", mount, "cannot read the mount: \(error)")
                    return finish()
                }
                let up = m.unsigned(layout.mountParent) ?? 0
                if up == mount || up == 0 { return finish(cut: false) }
                guard seen.insert(vfsmnt | 1).inserted else {
                    warn("path cycle", mount, "mount \(hex(mount)) is met twice on the way to the root (a cycle)")
                    return finish()
                }
                dentry = m.unsigned(layout.mountMountpoint) ?? 0
                vfsmnt = up &+ UInt64(layout.mountMnt)
                continue
            }
            if parent == dentry { return finish(cut: false) }
            if parent == 0 {
                warn("null d_parent", dentry, "the dentry's d_parent is NULL")
                return finish()
            }
            let length = Int(clamping: d.unsigned(layout.nameLength) ?? 0)
            let name = d.unsigned(layout.namePointer) ?? 0
            var text = ""
            if length > 0 {
                do {
                    let bytes = try memory.readVirtual(name, count: min(length, 255))
                    text = String(decoding: bytes, as: UTF8.self)
                } catch {
                    warn("unreadable name", dentry, "cannot read the dentry's name at \(hex(name)): \(error)")
                    text = "?"
                }
                if length > 255 { warn("long name", dentry, "a name of \(length) bytes (more than NAME_MAX); cut") }
            }
            parts.append(text)
            dentry = parent
        }
    }

    /// The name `d_path` gives a dentry of a pseudo filesystem whose
    /// `d_op->d_dname` makes one up (sockets, pipes, anonymous inodes, SysV
    /// shm), as /proc/PID/fd and maps show it; nil for any other dentry.
    func pseudoName(dentry: UInt64, layout: DentryPathLayout) -> String? {
        guard let dOp = layout.dOp, let dDname = layout.dDname, let iIno = layout.iIno,
              let d = try? readObject(at: dentry, covering: [dOp, layout.dInode, layout.nameLength, layout.namePointer]),
              let ops = d.unsigned(dOp), ops != 0,
              let fn = try? readObject(at: ops, covering: [dDname]).unsigned(dDname), fn != 0,
              let hit = target.symbols?.symbolize(fn), hit.offset == 0 else { return nil }
        func ino() -> UInt64? {
            guard let inode = d.unsigned(layout.dInode), inode != 0 else { return nil }
            return try? readObject(at: inode, covering: [iIno]).unsigned(iIno)
        }
        switch hit.symbol.name {
        case "sockfs_dname": return ino().map { "socket:[\($0)]" }
        case "pipefs_dname": return ino().map { "pipe:[\($0)]" }
        case "anon_inodefs_dname", "simple_dname":
            let length = min(Int(clamping: d.unsigned(layout.nameLength) ?? 0), 255)
            guard let name = d.unsigned(layout.namePointer),
                  let bytes = try? memory.readVirtual(name, count: length) else { return nil }
            let text = String(decoding: bytes, as: UTF8.self)
            // simple_dname: pseudo files of an internal mount (SysV shm, memfd) print as deleted
            return hit.symbol.name == "simple_dname" ? "/" + text + " (deleted)" : "anon_inode:" + text
        default: return nil
        }
    }

    /// `dentryPath` of the `struct path` at `address`.
    public func path(at address: UInt64, layout: DentryPathLayout, budget: WalkBudget) throws -> DentryPath {
        let p = try readObject(at: address, covering: [layout.pathMnt, layout.pathDentry])
        if let dentry = p.unsigned(layout.pathDentry), dentry != 0, let name = pseudoName(dentry: dentry, layout: layout) {
            return DentryPath(path: name)
        }
        return dentryPath(mnt: p.unsigned(layout.pathMnt) ?? 0, dentry: p.unsigned(layout.pathDentry) ?? 0,
                          layout: layout, budget: budget)
    }
}
