import MKFormat
import MKDebugInfo
import MKKernel

/// gdb's `info frame`: the selected frame's level, its frame address (the
/// CFA), its pc and where in the source, the saved pc (its caller's pc),
/// the frames next to it, the inline chain, and the stack slots the
/// unwinder read its caller's registers from.
enum InfoFrameCommand {
    static let spec = CommandSpec(
        name: "frame", aliases: ["f"],
        summary: "the selected frame in detail: CFA, pc, saved pc, neighbours, inline chain, saved registers",
        usage: "info frame",
        details: """

            The frame address is the CFA (the stack pointer before the call into this frame), as gdb's
            "frame at"; "Saved registers" are the stack slots the unwinder read the caller's registers
            from (none for the outermost frame, and for an inline frame they are its real frame's).
            """,
        examples: ["info frame", "info f"],
        json: ["task", "pid", "frame", "cfa", "saved_pc", "caller_cfa", "callee_cfa", "inlined_into", "real_frame",
               "saved_registers"],
        excess: "info frame takes no arguments (select a frame with frame N)"
    ) { _, session in
        guard let context = session.current else { throw CommandError.noTarget }
        let arch = try context.kernel().architecture()
        let (bt, index) = try FrameRegisters.selected(context, budget: session.walkBudget())
        return output(bt, index, arch)
    }

    /// The real frame an inline level belongs to: the first non-inline frame at or after it.
    static func realFrame(_ frames: [BacktraceFrame], _ index: Int) -> Int {
        var i = index
        while i < frames.count - 1, frames[i].isInline { i += 1 }
        return i
    }

    static func output(_ bt: Backtrace, _ index: Int, _ arch: any Architecture) -> CommandOutput {
        let frames = bt.frames
        let f = frames[index]
        let real = realFrame(frames, index)
        let cfa = frames[real].saved.cfa
        func cfaText(_ v: UInt64?) -> String { v.map(hex) ?? "<unknown>" }
        func cfaOf(_ i: Int) -> UInt64? { frames.indices.contains(i) ? frames[realFrame(frames, i)].saved.cfa : nil }
        let pcName = arch.registers.first { $0.dwarfNumber == arch.registerFile.pc }?.name ?? "pc"

        var lines = ["Stack level \(index), frame at \(cfaText(cfa)):"]
        var where_ = " \(pcName) = \(hex(f.pc)) in \(f.function ?? "??")"
        if let file = f.file { where_ += " (\(file)" + (f.line.map { ":\($0)" } ?? "") + ")" }
        if let module = f.module { where_ += " [\(module)]" }
        let savedPC = index + 1 < frames.count ? frames[index + 1].pc : nil
        where_ += "; saved \(pcName) = " + (savedPC.map(hex) ?? "<outermost frame>")
        lines.append(where_)
        if f.isInline { lines.append(" inlined into frame \(index + 1)") }
        if index + 1 < frames.count {
            lines.append(" called by frame at \(cfaText(cfaOf(index + 1)))" + (index > 0 ? ", caller of frame at \(cfaText(cfaOf(index - 1)))" : ""))
        } else if index > 0 {
            lines.append(" caller of frame at \(cfaText(cfaOf(index - 1)))")
        }
        lines.append(" found by \(f.method)" + (f.reliable ? "" : " (a guess)") + "; sp = \(hex(f.sp))")
        let slots = savedSlots(frames[real], arch)
        if f.isInline {
            lines.append(" Saved registers: those of frame \(real), the real frame it is inlined in")
        }
        if !slots.isEmpty && !f.isInline {
            lines.append(" Saved registers:")
            lines.append("  " + slots.map { "\($0.name) at \(hex($0.address))" }.joined(separator: ", "))
        } else if !f.isInline {
            lines.append(" Saved registers: none found" + (real == frames.count - 1 ? " (the outermost frame)" : ""))
        }

        let fields: [(String, JSONValue)] = [
            ("task", jsonAddress(bt.task)), ("pid", bt.pid.map { .int($0) } ?? .null),
            ("frame", BacktraceCommand.frameObject(f)), ("cfa", cfa.map(jsonAddress) ?? .null),
            ("saved_pc", savedPC.map(jsonAddress) ?? .null), ("caller_cfa", cfaOf(index + 1).map(jsonAddress) ?? .null),
            ("callee_cfa", index > 0 ? cfaOf(index - 1).map(jsonAddress) ?? .null : .null),
            ("inlined_into", f.isInline ? .int(Int64(index + 1)) : .null), ("real_frame", .int(Int64(real))),
            ("saved_registers", .object(slots.map { ($0.name, jsonAddress($0.address)) })),
        ]
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }

    /// The slots in gdb's register order.
    static func savedSlots(_ f: BacktraceFrame, _ arch: any Architecture) -> [(name: String, address: UInt64)] {
        FrameRegisters.listed(arch).compactMap { r in f.saved.slots[r.dwarfNumber].map { (r.name, $0) } }
    }
}
