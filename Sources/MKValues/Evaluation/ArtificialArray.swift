import MKFormat
import MKDebugInfo

extension Evaluator {
    /// gdb's `LVALUE@N`: the N objects of LVALUE's type that start at its
    /// address, as one array lvalue. Nothing is read here: printing reads a
    /// window at a time and stops at `set print elements`, as for any array.
    func artificialArray(_ left: Value, _ leftRange: SourceRange, _ count: Value, _ countRange: SourceRange) throws -> Value {
        if left.isBitfield { throw EvaluationError("the left side of @ is a bitfield, which has no address of its own", at: leftRange) }
        guard let address = left.address ?? left.snapshotAddress else {
            throw EvaluationError("the left side of @ must be a value in memory", at: leftRange)
        }
        guard let size = left.type.byteSize, size > 0 else {
            throw EvaluationError("the left side of @ has type \(left.type), whose size is unknown", at: leftRange)
        }
        let n = try signedInt(try rvalue(count, countRange), countRange)
        guard n > 0 else { throw EvaluationError("the right side of @ must be a positive count, not \(n)", at: countRange) }
        let (total, o1) = size.multipliedReportingOverflow(by: UInt64(n))
        let (_, o2) = address.addingReportingOverflow(total)
        guard !o1, !o2 else {
            throw EvaluationError("\(n) objects of \(size) bytes from \(hex(address)) run past the top of the address space", at: countRange)
        }
        return Value(type: CType.array(of: left.type, count: UInt64(n)), address: address)
    }
}
