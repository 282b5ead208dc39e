import MKFormat
import MKKernel

/// crash's `ipcs`: the SysV shared memory segments, semaphore sets and
/// message queues of the initial IPC namespace (or a task's).
enum IpcsCommand {
    static let usage = "ipcs [-m] [-s] [-q] [-n PID|TASK-ADDRESS]"

    static let spec = CommandSpec(
        name: "ipcs", group: "kernel",
        summary: "SysV IPC: shared memory segments, semaphore sets and message queues (key, id, owner, perms, sizes)",
        usage: usage, details: """

        The objects of init_ipc_ns (-n: of the task's nsproxy->ipc_ns), from each ids[] entry's
        IDR (an xarray of kern_ipc_perm pointers, walked bounded and cycle-checked), in crash's
        three tables: SHMID_KERNEL (shm_segsz BYTES, shm_nattch NATTCH, STATUS dest/locked from
        the mode's SHM_DEST/SHM_LOCKED), SEM_ARRAY (sem_nsems NSEMS), MSG_QUEUE (q_cbytes
        USED-BYTES, q_qnum MESSAGES). KEY is in hex, PERMS the mode's low 9 bits in octal, UID the
        owner's. -m, -s, -q pick tables (any together); none shows all three.
        """,
        examples: ["ipcs", "ipcs -m", "ipcs -s -q", "ipcs -n 1"],
        options: [.flag("-m", help: "shared memory segments"), .flag("-s", help: "semaphore sets"),
                  .flag("-q", help: "message queues"),
                  .option("-n", value: ArgumentSpec("PID|TASK-ADDRESS", .task, expected: "a PID or task address"),
                          help: "the IPC namespace of this task")],
        json: ["ipc_namespace", "shm", "sem", "msg", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        var kinds: [IPCKind] = []
        if args.has("-m") { kinds.append(.sharedMemory) }
        if args.has("-s") { kinds.append(.semaphores) }
        if args.has("-q") { kinds.append(.messages) }
        if kinds.isEmpty { kinds = [.sharedMemory, .semaphores, .messages] }
        let result: IPCObjects
        do {
            let task = try args.value("-n").map { try TaskHeader.resolve($0, session: session, command: "ipcs", usage: usage).task }
            result = try kernel.ipcObjects(namespace: try kernel.ipcNamespace(task: task), kinds: kinds, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("ipcs: \(e)", cause: e)
        }
        var blocks: [String] = []
        var json: [IPCKind: [JSONValue]] = [:]
        for kind in kinds {
            let objects = result.objects.filter { $0.kind == kind }
            let title: String
            switch kind {
            case .sharedMemory: title = "SHMID_KERNEL     KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS"
            case .semaphores: title = "SEM_ARRAY        KEY      SEMID      UID   PERMS NSEMS"
            case .messages: title = "MSG_QUEUE        KEY      MSQID      UID   PERMS USED-BYTES   MESSAGES"
            }
            var lines = [title]
            if objects.isEmpty { lines.append("(none allocated)") }
            for o in objects {
                var line = hexDigits(o.address) + " " + String(o.key, radix: 16).leftPadded(8, with: "0") + " "
                    + String(o.id).rightPadded(10) + " " + String(o.uid).rightPadded(5) + " "
                    + String(o.mode & 0o777, radix: 8).rightPadded(5) + " "
                switch kind {
                case .sharedMemory: line += String(o.bytes).rightPadded(10) + " " + String(o.count).rightPadded(6) + " "
                    + o.shmStatus.joined(separator: " ")
                case .semaphores: line += String(o.count)
                case .messages: line += String(o.bytes).rightPadded(12) + " " + String(o.count)
                }
                lines.append(line.trailingSpacesTrimmed)
                var fields: [(String, JSONValue)] = [("address", jsonAddress(o.address)), ("key", .uint(UInt64(o.key))),
                                                     ("id", .int(o.id)), ("index", .uint(o.index)), ("uid", .uint(o.uid)),
                                                     ("gid", .uint(o.gid)), ("mode", .uint(o.mode)), ("deleted", .bool(o.deleted))]
                switch kind {
                case .sharedMemory: fields += [("size", .uint(o.bytes)), ("nattch", .uint(o.count)),
                                               ("status", .array(o.shmStatus.map { .string($0) }))]
                case .semaphores: fields += [("nsems", .uint(o.count))]
                case .messages: fields += [("used_bytes", .uint(o.bytes)), ("messages", .uint(o.count))]
                }
                json[kind, default: []].append(.object(fields))
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        let w = KernelCommandSupport.warnings("ipcs", result.warnings.map(\.description), budget: budget)
        func list(_ k: IPCKind) -> JSONValue { kinds.contains(k) ? .array(json[k] ?? []) : .null }
        return CommandOutput(text: KernelCommandSupport.join(blocks.joined(separator: "\n\n"), w.text),
                             fields: [("ipc_namespace", jsonAddress(result.namespace)), ("shm", list(.sharedMemory)),
                                      ("sem", list(.semaphores)), ("msg", list(.messages)), ("warnings", w.json)])
    }
}

private extension String {
    var trailingSpacesTrimmed: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
