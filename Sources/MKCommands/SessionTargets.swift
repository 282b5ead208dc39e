import MKDebugInfo
import MKMultikernel

extension Session {
    /// Makes `target` current; caches built for the previous one go.
    public func use(_ target: Target, instance: Instance?, live: Bool) {
        // The value history outlives a change of target, as gdb's does.
        let history = evaluatorStorage?.history
        defer { if let history, let e = try? evaluator() { e.history = history } }
        self.target = target
        currentInstance = instance
        isLive = live
        evaluatorStorage = nil
        kernelStorage = nil
        examineState = ExamineState()
        target.memory.cachingEnabled = !live
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
        use(opened.target, instance: instance, live: !frozen)
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
