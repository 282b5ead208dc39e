/// A value in a decoded message, ready for text or JSON.
public indirect enum MessageValue: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case object([(String, MessageValue)])

    public static func == (a: MessageValue, b: MessageValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.uint(x), .uint(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(_ key: String) -> MessageValue? {
        if case let .object(fields) = self { return fields.first { $0.0 == key }?.1 }
        return nil
    }
}

/// What a slot's buffer says: an `mk_message` (type, subtype, payload
/// fields), an MKTY console message (its text), or raw bytes; with a
/// one-line summary for people and the problems found. Every length in
/// the buffer is checked against the bytes actually there.
public struct DecodedMessage: Equatable {
    public enum Kind: String, Equatable {
        case message = "mk_message"
        case console = "mktty_message"
        case raw
    }

    public var kind: Kind
    public var summary: String
    /// The JSON object (`message` in `channels --json`).
    public var value: MessageValue
    public var problems: [String]
}

public enum MessageDecoder {
    /// Decodes a slot's buffer. `bytes` is what the slot holds: `data_size`
    /// bytes when published, the whole buffer when the size is not known
    /// (a consumed slot: the consumer zeroes `data_size`), so inner lengths
    /// are bounded by it. `instanceNames` names console ids.
    public static func decode(type: UInt64, bytes: ArraySlice<UInt8>, sizeKnown: Bool, layout: RingLayout,
                              instanceNames: [Int: String] = [:]) -> DecodedMessage {
        guard let slotType = layout.slotType(type) else {
            return raw(bytes, sizeKnown: sizeKnown, problems: ["type \(hex(type)) is not a slot type layout \(layout.era) knows"])
        }
        switch slotType.decoding {
        case .message:
            guard let st = layout.structs[RingLayout.Decoding.message.rawValue] else { return raw(bytes, sizeKnown: sizeKnown, problems: []) }
            return message(slotType: slotType, bytes: bytes, sizeKnown: sizeKnown, header: st, layout: layout)
        case .console:
            guard let st = layout.structs[RingLayout.Decoding.console.rawValue] else { return raw(bytes, sizeKnown: sizeKnown, problems: []) }
            return console(bytes: bytes, sizeKnown: sizeKnown, header: st, layout: layout, instanceNames: instanceNames)
        case .raw:
            var d = raw(bytes, sizeKnown: sizeKnown, problems: [])
            d.summary = slotType.name + (d.summary.isEmpty ? "" : " " + d.summary)
            return d
        }
    }

    static func raw(_ bytes: ArraySlice<UInt8>, sizeKnown: Bool, problems: [String]) -> DecodedMessage {
        let shown = sizeKnown ? bytes : bytes.prefix(32)
        let preview = hexBytes(shown.prefix(32)) + (shown.count > 32 ? "…" : "")
        return DecodedMessage(kind: .raw, summary: shown.isEmpty ? "" : "bytes \(preview)",
                              value: .object([("format", .string("raw")), ("bytes", .string(hexBytes(shown.prefix(256))))]),
                              problems: problems)
    }

    // MARK: mk_message

    static func message(slotType: RingLayout.SlotType, bytes: ArraySlice<UInt8>, sizeKnown: Bool,
                        header: MessageStruct, layout: RingLayout) -> DecodedMessage {
        var problems: [String] = []
        guard bytes.count >= header.size else {
            return raw(bytes, sizeKnown: sizeKnown, problems: ["data_size \(bytes.count) is smaller than struct mk_message (\(header.size) bytes): the consumer drops it"])
        }
        let values = Dictionary(header.decode(bytes).map { ($0.field.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let msgType = values["msg_type"]?.integer ?? 0
        let subtype = values["msg_subtype"]?.integer ?? 0
        let msgId = values["msg_id"]?.integer ?? 0
        let payloadLen = values["payload_len"]?.integer ?? 0
        let payloadStart = header.trailerOffset ?? header.size
        if msgType != slotType.value {
            problems.append("msg_type \(hex(msgType)) differs from the slot type \(hex(slotType.value)) (\(slotType.name)): the consumer rejects it")
        }
        let sub = layout.subtype(subtype)
        if sub == nil {
            problems.append("subtype \(hex(subtype)) is not one layout \(layout.era) knows")
        } else if subtype & ~UInt64(0xfff) != msgType {
            problems.append("subtype \(sub!.name) belongs to category \(hex(subtype & ~UInt64(0xfff))), not to msg_type \(hex(msgType))")
        }
        // The consumer accepts payload_len <= data_size - sizeof(struct mk_message).
        let room = bytes.count - header.size
        if sizeKnown && payloadLen > UInt64(room) {
            problems.append("payload_len \(payloadLen) exceeds the \(room) bytes after the header (data_size \(bytes.count)): the consumer drops it")
        }
        let available = max(0, bytes.count - payloadStart)
        let payloadCount = Int(min(payloadLen, UInt64(available)))
        let payload = bytes.dropFirst(payloadStart).prefix(payloadCount)

        var obj: [(String, MessageValue)] = [("format", .string("mk_message")),
                                            ("msg_type", .uint(msgType)), ("msg_type_name", name(layout.slotType(msgType)?.name)),
                                            ("msg_subtype", .uint(subtype)), ("msg_subtype_name", name(sub?.name)),
                                            ("msg_id", .uint(msgId)), ("payload_len", .uint(payloadLen))]
        var text = sub?.name ?? "subtype \(hex(subtype))"
        if msgId != 0 { text += " msg_id=\(msgId)" }
        if let pname = sub?.payload, let pst = layout.structs[pname] {
            if payload.count < pst.fieldsEnd {
                problems.append("payload_len \(payloadLen) is shorter than struct \(pname) (\(pst.size) bytes)")
            }
            let (fields, ftext) = describe(pst, payload, layout: layout)
            var pobj: [(String, MessageValue)] = [("struct", .string(pname))] + fields
            text += ftext.isEmpty ? "" : " " + ftext
            if let tOff = pst.trailerOffset {
                let data = payload.dropFirst(tOff)
                let tname = pst.trailerName ?? "data"
                pobj.append(("\(tname)_len", .uint(UInt64(data.count))))
                pobj.append((tname, .string(String(decoding: data, as: UTF8.self))))
                pobj.append(("\(tname)_hex", .string(hexBytes(data.prefix(4096)))))
                if !data.isEmpty {
                    text += " \(tname)=" + (printable(data) ? quoted(String(decoding: data, as: UTF8.self), limit: 64) : hexBytes(data.prefix(32)) + (data.count > 32 ? "…" : ""))
                }
                if pname == "virtio_vsock_hdr", let len = fields.first(where: { $0.0 == "len" })?.1, case let .uint(l) = len, l != UInt64(data.count) {
                    problems.append("vsock header says len \(l) but \(data.count) data bytes follow it")
                }
            } else if pname == "virtio_vsock_hdr", let len = fields.first(where: { $0.0 == "len" })?.1, case let .uint(l) = len, l != 0 {
                problems.append("vsock header says len \(l) but no data follows it")
            }
            obj.append(("payload", .object(pobj)))
        } else if payloadCount > 0 {
            obj.append(("payload", .object([("bytes", .string(hexBytes(payload.prefix(256))))])))
            text += " payload " + hexBytes(payload.prefix(32)) + (payload.count > 32 ? "…" : "")
        } else {
            obj.append(("payload", .null))
        }
        return DecodedMessage(kind: .message, summary: text, value: .object(obj), problems: problems)
    }

    // MARK: MKTY

    static func console(bytes: ArraySlice<UInt8>, sizeKnown: Bool, header: MessageStruct, layout: RingLayout,
                        instanceNames: [Int: String]) -> DecodedMessage {
        var problems: [String] = []
        let dataStart = header.trailerOffset ?? header.fieldsEnd
        guard bytes.count >= dataStart else {
            return raw(bytes, sizeKnown: sizeKnown, problems: ["data_size \(bytes.count) is smaller than the MKTY header (\(dataStart) bytes)"])
        }
        let (fields, _) = describe(header, bytes, layout: layout)
        let values = Dictionary(header.decode(bytes).map { ($0.field.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let kind = values["type"]?.integer ?? 0
        let consoleId = values["console_id"]?.integer ?? 0
        let len = values["len"]?.integer ?? 0
        let capacity = header.size - dataStart
        let available = bytes.count - dataStart
        if len > UInt64(capacity) {
            problems.append("len \(len) exceeds the \(capacity)-byte console buffer")
        } else if sizeKnown && len > UInt64(available) {
            problems.append("len \(len) exceeds the \(available) bytes the slot's data_size leaves")
        }
        let kindName = layout.enums["mkty_type"]?[kind]
        if kindName == nil { problems.append("MKTY type \(kind) is neither input (1) nor output (2)") }
        let count = Int(min(len, UInt64(min(capacity, available))))
        let text = String(decoding: bytes.dropFirst(dataStart).prefix(count), as: UTF8.self)
        let who = instanceNames[Int(truncatingIfNeeded: consoleId)]
        var obj: [(String, MessageValue)] = [("format", .string("mktty_message"))] + fields
        if let who { obj.append(("console_name", .string(who))) }
        obj.append(("text", .string(text)))
        // MKTTY_MSG_OUTPUT -> output
        let direction = kindName.map { $0.split(separator: "_").last.map { $0.lowercased() } ?? $0 } ?? "type \(kind)"
        let summary = "console \(direction) " + (who.map { "\($0) (id \(consoleId))" } ?? "id \(consoleId)")
            + ", \(len) bytes: " + quoted(text, limit: 160)
        return DecodedMessage(kind: .console, summary: summary, value: .object(obj), problems: problems)
    }

    // MARK: helpers

    static func name(_ s: String?) -> MessageValue { s.map { .string($0) } ?? .null }

    /// A struct's fields as JSON members and `name=value` text.
    static func describe(_ st: MessageStruct, _ bytes: ArraySlice<UInt8>, layout: RingLayout) -> ([(String, MessageValue)], String) {
        var fields: [(String, MessageValue)] = []
        var words: [String] = []
        for (f, v) in st.decode(bytes) {
            switch v {
            case let .unsigned(u):
                fields.append((f.name, .uint(u)))
                let n = f.names.flatMap { layout.name(of: u, in: $0) }
                if let n { fields.append((f.name + "_name", .string(n))) }
                words.append("\(f.name)=" + (n ?? (f.hex ? hex(u) : String(u))))
            case let .signed(s):
                fields.append((f.name, .int(s)))
                let n = f.names.flatMap { layout.name(of: UInt64(bitPattern: s), in: $0) }
                if let n { fields.append((f.name + "_name", .string(n))) }
                words.append("\(f.name)=" + (n ?? String(s)))
            case let .text(t):
                fields.append((f.name, .string(t)))
                words.append("\(f.name)=" + quoted(t, limit: 64))
            case let .bytes(b):
                fields.append((f.name, .string(hexBytes(b[...]))))
                words.append("\(f.name)=" + hexBytes(b.prefix(16)) + (b.count > 16 ? "…" : ""))
            }
        }
        return (fields, words.joined(separator: " "))
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    /// Text worth showing as text: printable ASCII and common white space.
    static func printable(_ b: ArraySlice<UInt8>) -> Bool {
        b.allSatisfy { ($0 >= 0x20 && $0 < 0x7f) || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }
    }

    static func hexBytes(_ b: ArraySlice<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(b.count * 2)
        for x in b { s.append(digits[Int(x >> 4)]); s.append(digits[Int(x & 15)]) }
        return s
    }

    /// C-style quoted text, control bytes escaped, cut at `limit` characters.
    public static func quoted(_ text: String, limit: Int) -> String {
        var out = "\""
        var n = 0
        for u in text.unicodeScalars {
            if n >= limit { out += "\"… (\(text.unicodeScalars.count) characters)"; return out }
            switch u {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    let h = String(u.value, radix: 16)
                    out += "\\x" + (h.count < 2 ? "0" : "") + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
            n += 1
        }
        return out + "\""
    }
}

extension MessageStruct {
    /// The end of the last fixed field (the struct may be padded past it).
    var fieldsEnd: Int { fields.map(\.end).max() ?? 0 }
}
