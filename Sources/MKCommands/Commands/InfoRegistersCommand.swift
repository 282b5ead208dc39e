import MKSystem
import MKFormat
import MKDebugInfo
import MKKernel

/// gdb's `info registers [REG...]`: the selected frame's registers. Frame 0
/// has what the CPU's `NT_PRSTATUS` note saved (a task running at dump
/// time) or the task's switch frame (a sleeping one); outer frames have
/// what the unwinder recovered, and `<not saved>` for the rest.
enum InfoRegistersCommand {
    static let usage = "info registers [REG...]"

    static let spec = CommandSpec(
        name: "registers", aliases: ["reg", "r"],
        summary: "the selected frame's registers (all, or those named), gdb's layout",
        usage: usage,
        details: """

            Frame 0 of a task running at dump time has its CPU's NT_PRSTATUS registers, a sleeping
            task's frame 0 those its last context switch saved; outer frames have what the unwinder
            recovered (ORC, DWARF CFI, pt_regs, frame pointers), `<not saved>` for the rest.
            Names may have a `$`; `pc`, `sp` and `fp` are the architecture's pc, stack and frame pointer.
            """,
        examples: ["info registers", "info registers rip rsp", "i r $pc", "frame 3", "info registers rbx"],
        arguments: [ArgumentSpec("REG", .words(FrameRegisters.completionNames), .many, expected: "register names")],
        json: ["task", "pid", "frame", "registers"]
    ) { args, session in
        guard let context = session.current else { throw CommandError.noTarget }
        let arch = try context.kernel().architecture()
        var wanted: [(name: String, info: RegisterInfo)] = []
        for word in args.words("REG") {
            guard let info = FrameRegisters.resolve(word, arch) else {
                let known = arch.displayOrder.joined(separator: " ")
                throw CommandError.usage(command: "info registers",
                                         message: "unknown register \"\(word)\" (\(arch.name) has \(known), and pc sp fp)", usage: usage)
            }
            let bare = word.hasPrefix("$") ? String(word.dropFirst()) : word
            wanted.append((bare, info))
        }
        if wanted.isEmpty { wanted = FrameRegisters.listed(arch).map { ($0.name, $0) } }
        let budget = session.walkBudget()
        let (bt, index) = try FrameRegisters.selected(context, budget: budget)
        let frame = bt.frames[index]
        let tracer = try context.backtracer(budget: budget)
        var lines: [String] = []
        var json: [(String, JSONValue)] = []
        for (name, info) in wanted {
            let value = frame.registers[info.dwarfNumber]
            lines.append(line(name, info, value, arch) { FrameRegisters.codeSymbol($0, symbols: context.target.symbols, modules: tracer.modules) })
            json.append((name, value.map { .uint($0) } ?? .null))
        }
        return CommandOutput(text: lines.joined(separator: "\n"),
                             fields: [("task", jsonAddress(bt.task)), ("pid", bt.pid.map { .int($0) } ?? .null),
                                      ("frame", .int(Int64(index))), ("registers", .object(json))])
    }

    /// `rax            0xffffffffffffffda  -38`: the name in 15 columns, the
    /// raw value in 19, then the value as its gdb type prints.
    static func line(_ name: String, _ info: RegisterInfo, _ value: UInt64?, _ arch: any Architecture,
                     symbolize: (UInt64) -> String?) -> String {
        let head = name.padding(15)
        guard let value else { return head + "<not saved>" }
        let raw = "0x" + String(value, radix: 16)
        let natural: String
        let bits = arch.flagBits(of: info.name)
        if !bits.isEmpty {
            let set = bits.filter { value >> UInt64($0.bit) & 1 == 1 }.map(\.name)
            natural = "[ " + set.joined(separator: " ") + (set.isEmpty ? "]" : " ]")
        } else {
            switch FrameRegisters.kind(of: info, arch) {
            case .code: natural = raw + (symbolize(value).map { " " + $0 } ?? "")
            case .data: natural = raw
            case .integer: natural = String(Int64(bitPattern: value))
            }
        }
        return head + raw.padding(20) + natural
    }
}
