import MKDebugInfo
import MKValues
import MKKernel
import MKMultikernel

/// Everything that belongs to one target: the image (with its memory and
/// symbols), whether it is a running instance, the kernel helpers and the
/// evaluator built over its debug info (with the target's value history:
/// `$1` on one target is not another's), `x`'s continuation, and the module
/// debug files `mod -s` loaded for it. A session holds one per open target;
/// switching targets switches which one is current.
public final class TargetContext {
    /// Its name in the session (`targets`, `target NAME`, `@NAME`).
    public let name: String
    public let target: Target
    /// The multikernel instance it reads, when it is one.
    public let instance: Instance?
    /// Memory that changes under us (a running instance): not cached.
    public internal(set) var isLive: Bool {
        didSet { target.memory.cachingEnabled = !isLive }
    }
    /// Where a bare `x` continues, and in which format and space.
    var examineState = ExamineState()
    /// Module debug files found by `mod -s`, by module name.
    public internal(set) var moduleDebugFiles: [String: ModuleDebugFile] = [:] {
        didSet { backtraceCache = [:] }
    }
    /// The task and frame `frame`, `info locals`, `$pc` and `dis`'s `=>` use.
    public internal(set) var selection = FrameSelection()
    /// Backtraces already walked on an image, by task address.
    var backtraceCache: [UInt64: Backtrace] = [:]
    private var evaluatorStorage: Evaluator?
    /// The selected frame's registers as `$rip`, `$sp`… (the evaluator holds it weakly).
    lazy var frameScope = SelectedFrameScope(context: self)
    /// What a walk the evaluator starts may spend (`$pc` walks the selected stack): the session's `set walk-limit`.
    var walkBudget: () -> WalkBudget = { WalkBudget() }
    private var kernelStorage: Kernel?

    init(name: String, target: Target, instance: Instance?, live: Bool) {
        self.name = name
        self.target = target
        self.instance = instance
        self.isLive = live
        target.memory.cachingEnabled = !live
    }

    /// The expression evaluator over the target's debug info (created on
    /// first use: it loads the DWARF index).
    public func evaluator() throws -> Evaluator {
        if let evaluatorStorage { return evaluatorStorage }
        let e = Evaluator(types: try target.requireTypes(), memory: target.memory, symbols: target.symbols)
        e.frameScope = frameScope
        if let btf = e.types as? BtfTypes {
            KernelGlobals.declare(in: btf, symbols: target.symbols)
            // Module types through this target's kernel helpers, made when first needed.
            btf.moduleLoader = { [weak self, unowned btf] in (try? self?.kernel()).map { $0.moduleBtf(base: btf) } }
        } else if let btf = (e.types as? BtfFirstTypes)?.btf {
            // A first start with a vmlinux: DWARF has no module types, so neither does its stand-in.
            KernelGlobals.declare(in: btf, symbols: target.symbols)
        }
        evaluatorStorage = e
        // The kernel helpers find (and declare) the globals a kallsyms without data symbols lacks.
        if e.types is BtfTypes { _ = try? kernel() }
        return e
    }

    /// Kernel helpers over the target (types, objects, list walks).
    public func kernel() throws -> Kernel {
        if let kernelStorage { return kernelStorage }
        let e = try evaluator()
        if let kernelStorage { return kernelStorage }  // made by evaluator() on a BTF target
        let k = Kernel(target: target, evaluator: e)
        kernelStorage = k
        return k
    }

    /// `post-mortem` (an image file), `live` or `frozen` (an instance).
    public var state: String { instance == nil ? "post-mortem" : (isLive ? "live" : "frozen") }
}
