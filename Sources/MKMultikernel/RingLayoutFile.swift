/// Reads a ring layout file (`symbols/layouts/<era>.json`, format
/// `mkdbg-ring-layout 1`, documented in `symbols/README.md`) into a
/// `RingLayout`, checking every offset; errors name the file and the key.
public enum RingLayoutFile {
    public static let formatName = "mkdbg-ring-layout 1"

    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    public static func load(path: String) throws -> RingLayout {
        let text: String
        do {
            text = try KernfsFile.text(path)
        } catch {
            throw Error(path: path, message: "cannot read it: \(error)")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> RingLayout {
        let json: LayoutJSON
        do {
            json = try LayoutJSON.parse(text)
        } catch {
            throw Error(path: path, message: "\(error)")
        }
        func fail(_ m: String) -> Error { Error(path: path, message: m) }
        guard json["format"]?.string == formatName else {
            throw fail("\"format\" must be \"\(formatName)\"")
        }
        guard let era = json["era"]?.string, !era.isEmpty else { throw fail("no \"era\"") }
        guard let ring = json["ring"], let slot = json["slot"] else { throw fail("needs \"ring\" and \"slot\" objects") }

        func int(_ v: LayoutJSON?, _ key: String) throws -> Int {
            guard let i = v?.int, i < 1 << 32 else { throw fail("\(key): expected a non-negative number") }
            return i
        }
        func spot(_ v: LayoutJSON?, _ key: String) throws -> RingLayout.Spot {
            guard let v else { throw fail("no \(key)") }
            let (size, kind) = try scalar(v["type"]?.string, key)
            return RingLayout.Spot(offset: try int(v["offset"], key + ".offset"), size: size, signed: kind == .signed)
        }
        func scalar(_ type: String?, _ key: String) throws -> (Int, MessageStruct.Kind) {
            guard let type, let parsed = parseType(type), parsed.1 == .unsigned || parsed.1 == .signed else {
                throw fail("\(key).type: expected u8, u16, u32, u64, s8, s16, s32 or s64")
            }
            return parsed
        }

        var layout = RingLayout(
            era: era, source: path,
            ringSize: try int(ring["size"], "ring.size"), slotCount: try int(ring["slots"], "ring.slots"),
            head: try spot(ring["head"], "ring.head"), tail: try spot(ring["tail"], "ring.tail"),
            entriesOffset: try int(ring["entries"], "ring.entries"), slotSize: try int(slot["size"], "slot.size"),
            senderCpu: try spot(slot["sender_cpu"], "slot.sender_cpu"), type: try spot(slot["type"], "slot.type"),
            dataSize: try spot(slot["data_size"], "slot.data_size"),
            bufferOffset: try int(slot["buffer"]?["offset"], "slot.buffer.offset"),
            bufferSize: try int(slot["buffer"]?["size"], "slot.buffer.size"))
        layout.aliases = (json["aliases"]?.array ?? []).compactMap { $0.string }
        layout.summary = json["summary"]?.string ?? ""
        layout.rank = json["rank"]?.int ?? 0
        if let f = ring["force_halt"] { layout.forceHalt = try spot(f, "ring.force_halt") }
        if let p = ring["parked"] {
            layout.parkedOffset = try int(p["offset"], "ring.parked.offset")
            layout.parkedSize = try int(p["size"], "ring.parked.size")
        }

        for (name, s) in json["structs"]?.object ?? [] {
            var fields: [MessageStruct.Field] = []
            for (i, f) in (s["fields"]?.array ?? []).enumerated() {
                let key = "structs.\(name).fields[\(i)]"
                guard let fname = f["name"]?.string, let type = f["type"]?.string, let (size, kind) = parseType(type) else {
                    throw fail("\(key): needs \"name\" and a \"type\" (u8..u64, s8..s64, char[N], u8[N])")
                }
                fields.append(MessageStruct.Field(name: fname, offset: try int(f["offset"], key + ".offset"), size: size, kind: kind,
                                                  names: f["names"]?.string, hex: f["hex"]?.bool ?? false))
            }
            var st = MessageStruct(name: name, size: try int(s["size"], "structs.\(name).size"), fields: fields)
            if let t = s["trailer"] {
                st.trailerName = t["name"]?.string ?? "data"
                st.trailerOffset = try int(t["offset"], "structs.\(name).trailer.offset")
            }
            layout.structs[name] = st
        }
        for (i, t) in (json["slot_types"]?.array ?? []).enumerated() {
            guard let value = t["value"]?.uint, let name = t["name"]?.string else { throw fail("slot_types[\(i)]: needs \"value\" and \"name\"") }
            let decode = t["decode"]?.string ?? "raw"
            guard let decoding = RingLayout.Decoding(rawValue: decode) else {
                throw fail("slot_types[\(i)].decode: expected mk_message, mktty_message or raw")
            }
            layout.slotTypes.append(RingLayout.SlotType(value: value, name: name, decoding: decoding))
        }
        for (i, s) in (json["subtypes"]?.array ?? []).enumerated() {
            guard let value = s["value"]?.uint, let name = s["name"]?.string else { throw fail("subtypes[\(i)]: needs \"value\" and \"name\"") }
            layout.subtypes.append(RingLayout.Subtype(value: value, name: name, payload: s["payload"]?.string))
        }
        for (name, table) in json["enums"]?.object ?? [] {
            var values: [UInt64: String] = [:]
            for (k, v) in table.object ?? [] {
                guard let key = LayoutJSON.string(k).uint, let text = v.string else { throw fail("enums.\(name).\(k): expected \"number\": \"name\"") }
                values[key] = text
            }
            layout.enums[name] = values
        }
        let problems = layout.problems()
        if !problems.isEmpty { throw fail("inconsistent layout: " + problems.joined(separator: "; ")) }
        return layout
    }

    /// `u32` → (4, unsigned); `s64` → (8, signed); `char[64]` → (64, chars); `u8[16]` → (16, bytes).
    static func parseType(_ type: String) -> (Int, MessageStruct.Kind)? {
        let scalars: [String: (Int, MessageStruct.Kind)] = [
            "u8": (1, .unsigned), "u16": (2, .unsigned), "u32": (4, .unsigned), "u64": (8, .unsigned),
            "s8": (1, .signed), "s16": (2, .signed), "s32": (4, .signed), "s64": (8, .signed)]
        if let s = scalars[type] { return s }
        guard type.hasSuffix("]"), let open = type.firstIndex(of: "[") else { return nil }
        let base = type[..<open]
        guard let n = Int(type[type.index(after: open)..<type.index(before: type.endIndex)]), n > 0, n <= 1 << 16 else { return nil }
        switch base {
        case "char": return (n, .chars)
        case "u8": return (n, .bytes)
        default: return nil
        }
    }
}
