import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel

/// Several kernels in one session: instances, the host, image files.
/// One is current; the others keep their contexts (caches, evaluator, `x`
/// state, module debug files); debug info is shared between targets of the
/// same build-id (`DebugInfo.load`).
extension Session {
    static func defaultName(for path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
        return base
    }

    /// Makes `target` current under `name` (the instance's name, else the
    /// image file's), keeping the other targets open. A target of that name
    /// is replaced in place (a reopened instance keeps its module debug files).
    public func use(_ target: Target, instance: Instance?, live: Bool, name: String? = nil) {
        let key = name ?? instance?.name ?? Session.defaultName(for: target.image.path)
        let context = TargetContext(name: key, target: target, instance: instance, live: live)
        context.walkBudget = { [weak self] in self?.walkBudget() ?? WalkBudget() }
        if let i = contexts.firstIndex(where: { $0.name == key }) {
            let old = contexts[i]
            if let a = old.instance, let b = instance, a.directory == b.directory { context.moduleDebugFiles = old.moduleDebugFiles }
            contexts[i] = context
        } else {
            contexts.append(context)
        }
        makeCurrent(context)
    }

    /// Switches to an open target by name.
    public func switchTo(_ name: String) throws {
        if name == currentName { return }
        guard let context = context(named: name) else {
            throw CommandError.unknownName(name, message: "no target named \"\(name)\"; open ones: \(targetNames.joined(separator: ", "))")
        }
        makeCurrent(context)
    }

    /// The value history is the session's, whichever target is current:
    /// it moves to the context becoming current.
    private func makeCurrent(_ context: TargetContext) {
        let history = current?.existingEvaluator?.history
        current = context
        guard let history else { return }
        if let e = context.existingEvaluator { e.history = history; return }
        if let e = try? context.evaluator() { e.history = history }
    }

    /// Runs `body` with `name` current (opening the instance of that name
    /// if no target has it yet), then switches back.
    func onTarget<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let previous = currentName
        if name != currentName && context(named: name) == nil {
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
        guard let current, let instance = current.instance else { return }
        current.isLive = !(instance.isFrozen == true || instance.status != .active)
    }
}
