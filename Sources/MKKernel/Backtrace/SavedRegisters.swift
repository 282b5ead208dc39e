/// What one unwinding step learned about the frame it stepped out of: its
/// canonical frame address (the caller's stack pointer before the call, as
/// DWARF defines it) and the stack slots the caller's registers were read
/// from, by DWARF number. `info frame` prints them.
public struct SavedRegisters: Equatable, Sendable {
    public var cfa: UInt64?
    /// DWARF register number → the address its caller's value was read from.
    public var slots: [Int: UInt64]

    public init(cfa: UInt64? = nil, slots: [Int: UInt64] = [:]) {
        self.cfa = cfa
        self.slots = slots
    }
}
