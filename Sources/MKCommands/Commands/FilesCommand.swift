import MKFormat
import MKSystem
import MKKernel

/// crash's `files [PID|TASK]`: a task's root and working directory, then
/// each open descriptor with its file, dentry, inode, type and path.
enum FilesCommand {
    static let usage = "files [PID | TASK-ADDRESS]"

    static let spec = CommandSpec(
        name: "files", group: "kernel",
        summary: "a task's root, cwd and open files: fd, struct file, dentry, inode, type, path",
        usage: usage, details: """

        No argument: the selected task (set PID, bt PID), else the panicking CPU's. Descriptors
        come from files->fdt->fd[0..max_fds); TYPE is i_mode's (REG DIR CHR BLK FIFO SOCK LNK);
        paths are built as d_path does, up the dentries and through the mounts to the root.
        """,
        examples: ["files", "files 1", "files 0xffff888003a3c000"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        json: ["task", "pid", "comm", "cpu", "root", "cwd", "files", "warnings"],
        excess: "expected at most one PID or task address"
    ) { args, session in
        let header = try TaskHeader.resolve(args.words("PID|TASK-ADDRESS").first, session: session, command: "files", usage: usage)
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("files") { try OpenFilesLayout(kernel) }
        let budget = session.walkBudget()
        let result = try kernel.openFiles(task: header.task, layout: layout, budget: budget)
        var lines = header.lines
        lines.append("ROOT: \(result.root ?? "(none)")    CWD: \(result.cwd ?? "(none)")")
        var json: [JSONValue] = []
        if result.files.isEmpty {
            lines.append("No open files")
        } else {
            lines.append(" FD       FILE            DENTRY           INODE       TYPE PATH")
            for f in result.files {
                lines.append(String(f.fd).leftPadded(3, with: " ") + " \(hexDigits(f.file)) \(hexDigits(f.dentry)) "
                             + "\(hexDigits(f.inode)) " + f.type.rightPadded(4) + " \(f.path)")
                json.append(.object([("fd", .int(Int64(f.fd))), ("file", jsonAddress(f.file)), ("dentry", jsonAddress(f.dentry)),
                                     ("inode", jsonAddress(f.inode)), ("type", .string(f.type)), ("path", .string(f.path))]))
            }
        }
        let w = KernelCommandSupport.warnings("files", result.warnings.map(\.description), budget: budget)
        let fields = header.fields + [("root", result.root.map { .string($0) } ?? .null),
                                      ("cwd", result.cwd.map { .string($0) } ?? .null), ("files", .array(json)), ("warnings", w.json)]
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text), fields: fields)
    }
}
