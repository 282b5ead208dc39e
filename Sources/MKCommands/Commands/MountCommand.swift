import MKFormat
import MKKernel

/// crash's `mount`: the mounts of a task's mount namespace, each with its
/// superblock, filesystem type, device name and mount point.
enum MountCommand {
    static let usage = "mount [-p PID | TASK-ADDRESS]"

    static let spec = CommandSpec(
        name: "mount", group: "kernel",
        summary: "the mounts of a task's mount namespace: mount, superblock, type, device, directory",
        usage: usage, details: """

        The namespace is task->nsproxy->mnt_ns of the -p task, else the selected task (set PID),
        else the panicking CPU's. Its mounts are mnt_namespace.list (to 6.7) or the
        mnt_namespace.mounts rbtree (6.8 on); TYPE is sb->s_type->name, DEVNAME mnt_devname,
        DIRNAME the mount point's path through the parent mounts.
        """,
        examples: ["mount", "mount -p 1"],
        options: [.option("-p", value: ArgumentSpec("PID|TASK-ADDRESS", .task, expected: "a PID or task address"),
                          help: "the mount namespace of this task")],
        json: ["task", "pid", "comm", "cpu", "mnt_namespace", "mounts", "warnings"]
    ) { args, session in
        let header = try TaskHeader.resolve(args.value("-p"), session: session, command: "mount", usage: usage)
        let kernel = try session.kernel()
        let layout = try KernelCommandSupport.layout("mount") { try MountLayout(kernel) }
        let budget = session.walkBudget()
        let result: MountNamespaceMounts
        do {
            let ns = try kernel.mountNamespace(task: header.task, layout: layout)
            result = try kernel.mounts(namespace: ns, layout: layout, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("mount: \(e)", cause: e)
        }
        let typeWidth = max(6, result.mounts.map(\.type.count).max() ?? 0)
        let devWidth = max(7, result.mounts.map(\.devName.count).max() ?? 0)
        var lines = ["     MOUNT           SUPERBLK     " + "TYPE".rightPadded(typeWidth) + " "
                     + "DEVNAME".rightPadded(devWidth) + " DIRNAME"]
        var json: [JSONValue] = []
        for m in result.mounts {
            lines.append("\(hexDigits(m.mount)) \(hexDigits(m.superBlock)) " + m.type.rightPadded(typeWidth) + " "
                         + m.devName.rightPadded(devWidth) + " " + m.dirName)
            json.append(.object([("mount", jsonAddress(m.mount)), ("superblock", jsonAddress(m.superBlock)),
                                 ("type", .string(m.type)), ("devname", .string(m.devName)), ("dirname", .string(m.dirName))]))
        }
        let w = KernelCommandSupport.warnings("mount", result.warnings.map(\.description), budget: budget)
        let fields = header.fields + [("mnt_namespace", jsonAddress(result.namespace)), ("mounts", .array(json)),
                                      ("warnings", w.json)]
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text), fields: fields)
    }
}
