import MKFormat
import MKMemory
import MKDebugInfo

/// One open file descriptor of a task.
public struct OpenFile: Equatable {
    public var fd: Int
    public var file: UInt64
    public var dentry: UInt64
    public var inode: UInt64
    /// `i_mode`'s file type: REG, DIR, CHR, BLK, FIFO, SOCK, LNK, or `?`.
    public var type: String
    public var path: String

    /// crash's names for `i_mode & S_IFMT`.
    public static func typeName(mode: UInt64) -> String {
        switch mode & 0o170000 {
        case 0o100000: return "REG"
        case 0o040000: return "DIR"
        case 0o020000: return "CHR"
        case 0o060000: return "BLK"
        case 0o010000: return "FIFO"
        case 0o140000: return "SOCK"
        case 0o120000: return "LNK"
        default: return "?"
        }
    }
}

/// A task's root and working directory and its open files.
public struct TaskFiles {
    public var root: String?
    public var cwd: String?
    public var files: [OpenFile] = []
    /// `task->files` is NULL (an exiting task).
    public var hasFiles = true
    public var warnings: [WalkWarning] = []
}

/// Where `fs_struct`, `files_struct`, `fdtable`, `file` and `inode` keep
/// what `files` shows, from DWARF.
public struct OpenFilesLayout {
    public let taskFs: Field
    public let taskFiles: Field
    public let fsRoot: Field
    public let fsPwd: Field
    public let filesFdt: Field
    public let maxFds: Field
    public let fd: Field
    public let filePath: Field
    public let fileInode: Field
    public let iMode: Field
    public let paths: DentryPathLayout

    public init(_ kernel: Kernel) throws {
        let task = try kernel.type("struct task_struct")
        taskFs = try kernel.field("fs", in: task)
        taskFiles = try kernel.field("files", in: task)
        let fs = try kernel.type("struct fs_struct")
        fsRoot = try kernel.field("root", in: fs)
        fsPwd = try kernel.field("pwd", in: fs)
        filesFdt = try kernel.field("fdt", in: kernel.type("struct files_struct"))
        let fdt = try kernel.type("struct fdtable")
        maxFds = try kernel.field("max_fds", in: fdt)
        fd = try kernel.field("fd", in: fdt)
        let file = try kernel.type("struct file")
        filePath = try kernel.field("f_path", in: file)
        fileInode = try kernel.field("f_inode", in: file)
        iMode = try kernel.field("i_mode", in: kernel.type("struct inode"))
        paths = try DentryPathLayout(kernel)
    }

    /// More descriptors than this (the kernel's default NR_OPEN) is not a real table.
    public static let maxFdLimit = 1 << 20
}

extension Kernel {
    /// The task's root, cwd and open files (`files->fdt->fd[0..<max_fds]`).
    /// The table is read 512 slots at a time, one budget step per chunk and
    /// per file; `max_fds` above NR_OPEN is reported and cut there.
    public func openFiles(task: UInt64, layout: OpenFilesLayout, budget: WalkBudget) throws -> TaskFiles {
        var out = TaskFiles()
        let t = try readObject(at: task, covering: [layout.taskFs, layout.taskFiles])
        let fs = t.unsigned(layout.taskFs) ?? 0
        if fs != 0 {
            let root = try path(at: fs &+ UInt64(layout.fsRoot.offset), layout: layout.paths, budget: budget)
            let cwd = try path(at: fs &+ UInt64(layout.fsPwd.offset), layout: layout.paths, budget: budget)
            out.root = root.path
            out.cwd = cwd.path
            out.warnings += root.warnings + cwd.warnings
        }
        let files = t.unsigned(layout.taskFiles) ?? 0
        guard files != 0 else {
            out.hasFiles = false
            return out
        }
        let fdt = try readObject(at: files, covering: [layout.filesFdt]).unsigned(layout.filesFdt) ?? 0
        guard fdt != 0 else {
            out.warnings.append(WalkWarning(address: files, message: "files_struct has no fdtable"))
            return out
        }
        let table = try readObject(at: fdt, covering: [layout.maxFds, layout.fd])
        var max = Int(clamping: table.unsigned(layout.maxFds) ?? 0)
        let array = table.unsigned(layout.fd) ?? 0
        if max > OpenFilesLayout.maxFdLimit {
            if budget.keepWarning("max_fds") {
                out.warnings.append(WalkWarning(address: fdt, message: "fdtable's max_fds is \(max), more than NR_OPEN "
                    + "(\(OpenFilesLayout.maxFdLimit)); only that many are read"))
            }
            max = OpenFilesLayout.maxFdLimit
        }
        let fileFields = [layout.filePath, layout.fileInode]
        let chunk = 512
        var first = 0
        while first < max, array != 0 {
            guard budget.take() else {
                if budget.keepWarning("walk budget") {
                    out.warnings.append(WalkWarning(address: fdt, message: budget.spentMessage(entries: out.files.count, reserve: 0)))
                }
                return out
            }
            let n = min(chunk, max - first)
            let words: [UInt8]
            do {
                words = try memory.readVirtual(array &+ UInt64(first * 8), count: n * 8)
            } catch {
                if budget.keepWarning("unreadable fd array") {
                    out.warnings.append(WalkWarning(address: array &+ UInt64(first * 8), message: "cannot read fd \(first)–\(first + n - 1) of the fd array: \(error)"))
                }
                return out
            }
            for i in 0..<n {
                var file: UInt64 = 0
                for b in (0..<8).reversed() { file = file << 8 | UInt64(words[i * 8 + b]) }
                if file == 0 { continue }
                let fd = first + i
                guard file & 7 == 0 else {
                    if budget.keepWarning("bad file pointer") {
                        out.warnings.append(WalkWarning(address: array &+ UInt64(fd * 8), message: "fd \(fd) holds \(hex(file)), not a struct file pointer"))
                    }
                    continue
                }
                guard budget.take() else {
                    if budget.keepWarning("walk budget") {
                        out.warnings.append(WalkWarning(address: fdt, message: budget.spentMessage(entries: out.files.count, reserve: 0)))
                    }
                    return out
                }
                do {
                    let f = try readObject(at: file, covering: fileFields)
                    let dentry = f.unsigned(layout.paths.pathDentry.shifted(by: layout.filePath)) ?? 0
                    let inode = f.unsigned(layout.fileInode) ?? 0
                    var mode: UInt64 = 0
                    if inode != 0 { mode = (try? readObject(at: inode, covering: [layout.iMode]).unsigned(layout.iMode)) ?? 0 }
                    let p = try path(at: file &+ UInt64(layout.filePath.offset), layout: layout.paths, budget: budget)
                    out.warnings += p.warnings
                    out.files.append(OpenFile(fd: fd, file: file, dentry: dentry, inode: inode,
                                              type: OpenFile.typeName(mode: mode), path: p.path))
                } catch {
                    if budget.keepWarning("unreadable file") {
                        out.warnings.append(WalkWarning(address: file, message: "fd \(fd): cannot read the struct file: \(error)"))
                    }
                }
            }
            first += n
        }
        return out
    }
}

extension Field {
    /// This member of an embedded struct, as a member of the struct embedding it at `outer`.
    func shifted(by outer: Field) -> Field {
        Field(layout: MemberLayout(path: outer.path + "." + path, offset: UInt64(outer.offset + offset), type: type,
                                   member: nil), type: type)
    }
}
