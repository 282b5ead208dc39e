import MKFormat

/// A problem met while reading the kernel log: which descriptor (index in
/// the descriptor ring, and its address) or which part of the ring, and
/// what was wrong. The record concerned is skipped (or, for a text longer
/// than its block, truncated); the rest of the log is still read.
public struct PrintkWarning: Equatable, Sendable, CustomStringConvertible {
    public var descriptorIndex: Int?
    public var address: UInt64?
    public var message: String

    public init(descriptorIndex: Int? = nil, address: UInt64? = nil, message: String) {
        self.descriptorIndex = descriptorIndex
        self.address = address
        self.message = message
    }

    public var description: String {
        var where_ = ""
        if let i = descriptorIndex {
            where_ = "descriptor \(i)"
            if let a = address { where_ += " at \(hex(a))" }
            where_ += ": "
        } else if let a = address {
            where_ = "at \(hex(a)): "
        }
        return where_ + message
    }
}
