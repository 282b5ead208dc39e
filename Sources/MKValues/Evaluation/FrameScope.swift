/// What the selected frame adds to expressions. The evaluator asks it
/// before anything else: a frame's locals shadow the kernel's globals, and
/// its registers are what `$name` means before the convenience variables.
public protocol FrameScope: AnyObject {
    /// `$rip`, `$pc`, `$sp`…: the register's value in the frame; nil when
    /// the name is not a register (the evaluator goes on), and throws when it
    /// is one the frame did not save.
    func register(named name: String) throws -> Value?
    /// A local variable or argument visible at the frame's pc, innermost
    /// scope first; nil when the frame has none of that name.
    func variable(named name: String) throws -> Value?
}
