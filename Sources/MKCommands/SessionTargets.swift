import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel

/// A target not current at the moment, with the state built for it.
struct SavedTarget {
    var target: Target
    var instance: Instance?
    var isLive: Bool
    var evaluator: Evaluator?
    var kernel: Kernel?
    var examineState: ExamineState
}

/// Several kernels in one session: instances, the host, image files.
/// One is current; the others keep their caches; debug info is shared
/// between targets of the same build-id (`DebugInfo.load`).
extension Session {
    static func defaultName(for path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
        return base
    }

    /// Makes `target` current under `name` (the instance's name, else the
    /// image file's), keeping the previous target open.
    public func use(_ target: Target, instance: Instance?, live: Bool, name: String? = nil) {
        let key = name ?? instance?.name ?? Session.defaultName(for: target.image.path)
        let history = evaluatorStorage?.history
        saveCurrent()
        savedTargets[key] = nil
        self.target = target
        currentInstance = instance
        isLive = live
        evaluatorStorage = nil
        kernelStorage = nil
        examineState = ExamineState()
        target.memory.cachingEnabled = !live
        currentName = key
        if !targetOrder.contains(key) { targetOrder.append(key) }
        carry(history)
    }

    /// The names of all open targets, in the order they were opened.
    public var targetNames: [String] { targetOrder }

    func saveCurrent() {
        guard let name = currentName, let target else { return }
        savedTargets[name] = SavedTarget(target: target, instance: currentInstance, isLive: isLive,
                                         evaluator: evaluatorStorage, kernel: kernelStorage, examineState: examineState)
    }

    /// Switches to an open target by name.
    public func switchTo(_ name: String) throws {
        if name == currentName { return }
        guard let saved = savedTargets[name] else {
            throw CommandError.invalid("no target named \"\(name)\"; open ones: \(targetOrder.joined(separator: ", "))")
        }
        let history = evaluatorStorage?.history
        saveCurrent()
        savedTargets[name] = nil
        target = saved.target
        currentInstance = saved.instance
        isLive = saved.isLive
        evaluatorStorage = saved.evaluator
        kernelStorage = saved.kernel
        examineState = saved.examineState
        currentName = name
        carry(history)
    }

    /// The value history is the session's, whichever target is current.
    func carry(_ history: ValueHistory?) {
        guard let history else { return }
        if let e = evaluatorStorage { e.history = history; return }
        if let e = try? evaluator() { e.history = history }
    }

    /// Runs `body` with `name` current (opening the instance of that name
    /// if no target has it yet), then switches back.
    func onTarget<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let previous = currentName
        if name != currentName && savedTargets[name] == nil {
            let inst = try kernfs.instance(name)
            let opened = try InstanceOpener.open(inst, kernfs: kernfs)
            use(opened.target, instance: inst, live: inst.status == .active && inst.isFrozen != true)
        } else {
            try switchTo(name)
        }
        defer { if let previous { try? switchTo(previous) } }
        return try body()
    }

    /// The instance a command names, or the current one.
    func instanceArgument(_ name: String?, command: String) throws -> Instance {
        if let name { return try kernfs.instance(name) }
        if let current = currentInstance { return current }
        throw CommandError.usage(command: command, message: "no instance named and none is current", usage: "\(command) NAME")
    }

    /// After a freeze or thaw of the current instance: reopen its kcore,
    /// whose notes (the CPUs' registers) exist only while it is frozen.
    func reopenIfCurrent(_ instance: Instance) {
        guard let current = currentInstance, current.directory == instance.directory else { return }
        guard let opened = try? InstanceOpener.open(instance, kernfs: kernfs) else { return }
        let frozen = instance.isFrozen == true || instance.status != .active
        use(opened.target, instance: instance, live: !frozen, name: currentName)
    }

    /// Re-reads whether the current instance is frozen: memory may be
    /// cached only while it is.
    func refreshLiveness() {
        guard let instance = currentInstance, let target else { return }
        let frozen = instance.isFrozen == true || instance.status != .active
        isLive = !frozen
        target.memory.cachingEnabled = frozen
    }
}
