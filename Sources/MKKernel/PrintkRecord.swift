/// One record of the kernel log, as the printk ring buffer stores it
/// (`struct printk_info` plus its text).
public struct PrintkRecord: Equatable, Sendable {
    /// The record's sequence number (`info->seq`).
    public var seq: UInt64
    /// Nanoseconds since boot (`info->ts_nsec`, local clock).
    public var timestampNanoseconds: UInt64
    /// syslog level, 0 (emerg) to 7 (debug).
    public var level: Int
    /// syslog facility: 0 for the kernel, 1 for `/dev/kmsg` writers.
    public var facility: Int
    /// `info->flags` (`LOG_NEWLINE`, `LOG_CONT`).
    public var flags: Int
    /// The record continues the previous one (`LOG_CONT`).
    public var isContinuation: Bool
    /// Who logged it, when the kernel recorded it.
    public var caller: PrintkCaller?
    /// The text's bytes as stored: no trailing newline, may hold newlines
    /// (one record, several lines) and any other byte.
    public var textBytes: [UInt8]
    /// `dev_info.subsystem` and `dev_info.device` (empty when unset).
    public var subsystem: String
    public var device: String
    /// The descriptor that held it (index in the descriptor ring).
    public var descriptorIndex: Int

    public init(seq: UInt64, timestampNanoseconds: UInt64, level: Int, facility: Int, flags: Int,
                isContinuation: Bool, caller: PrintkCaller?, textBytes: [UInt8],
                subsystem: String = "", device: String = "", descriptorIndex: Int = 0) {
        self.seq = seq
        self.timestampNanoseconds = timestampNanoseconds
        self.level = level
        self.facility = facility
        self.flags = flags
        self.isContinuation = isContinuation
        self.caller = caller
        self.textBytes = textBytes
        self.subsystem = subsystem
        self.device = device
        self.descriptorIndex = descriptorIndex
    }

    /// The text as UTF-8 (invalid sequences become U+FFFD).
    public var text: String { String(decoding: textBytes, as: UTF8.self) }
}

/// `info->caller_id`: a thread id, or (top bit set) a CPU number when the
/// message was logged outside task context.
public enum PrintkCaller: Equatable, Sendable, CustomStringConvertible {
    case thread(UInt32)
    case cpu(UInt32)

    public init(rawValue: UInt32) {
        self = rawValue & 0x8000_0000 != 0 ? .cpu(rawValue & 0x7fff_ffff) : .thread(rawValue)
    }

    /// `T123` or `C1`, as the kernel prints it.
    public var description: String {
        switch self {
        case let .thread(t): return "T\(t)"
        case let .cpu(c): return "C\(c)"
        }
    }
}
