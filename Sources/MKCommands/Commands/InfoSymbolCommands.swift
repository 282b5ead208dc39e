import MKKernel
import MKFormat
import MKDebugInfo
import MKValues

/// `info symbol`, `info address`, `info line`: gdb's answers about where
/// things are.
enum InfoSymbolCommands {
    static func symbol(_ text: String, _ session: Session) throws -> String {
        let target = try session.requireTarget()
        let symbols = try target.requireSymbols()
        let address = try ExamineCommand.address(of: text, session, physical: false)
        guard let (s, off) = symbols.symbolize(address) else {
            if let context = session.current,
               let hit = CodeNames(target: target, kernel: { try context.kernel() }).symbol(at: address), let module = hit.module {
                return (hit.offset == 0 ? hit.name : "\(hit.name) + \(hit.offset)") + " in module \(module)"
            }
            return "No symbol matches \(text)."
        }
        let section = target.vmlinux?.sectionName(linkAddress: address &- (symbols.kaslrOffset)) ?? "?"
        return (off == 0 ? s.name : "\(s.name) + \(off)") + " in section \(section)"
    }

    static func address(_ name: String, _ session: Session) throws -> String {
        let target = try session.requireTarget()
        let d = try target.requireTypes()
        if let v = d.variable(name) {
            guard let a = target.symbols?.lookup(name)?.address ?? v.linkAddress else {
                return "Symbol \"\(name)\" has no static address (optimized out)."
            }
            return "Symbol \"\(name)\" is static storage at address \(hex(a))."
        }
        if d.function(name) != nil, let a = target.symbols?.lookup(name)?.address {
            return "Symbol \"\(name)\" is a function at address \(hex(a))."
        }
        if let (t, v) = d.enumerator(name) {
            return "Symbol \"\(name)\" is constant \(v) of \(TypeFormatter.name(of: t))."
        }
        if let s = target.symbols?.lookup(name) {
            return "Symbol \"\(name)\" is at \(hex(s.address)) in a file compiled without debugging."
        }
        throw CommandError.unknownSymbol(name, message: "No symbol \"\(name)\" in the kernel's symbols or debug info.")
    }

    /// `info line FUNC` for a function of a module whose debug file `mod -s` loaded:
    /// the line of its first instruction, at its run-time address (module kallsyms).
    static func moduleLine(_ name: String, _ session: Session) throws -> String? {
        guard !session.moduleDebugFiles.isEmpty else { return nil }
        for (moduleName, file) in session.moduleDebugFiles.sorted(by: { $0.key < $1.key }) {
            guard let dwarf = try? file.dwarf.get(), let at = dwarf.fileAddress(ofSymbol: name) else { continue }
            guard let (fileName, line) = dwarf.sourceLine(at: at.address) else {
                throw CommandError.noDebugInfo("No line number information available for \(name) [\(moduleName)]")
            }
            let loaded = try Backtracer(kernel: session.kernel()).modules.first { $0.name == moduleName }
            let start = loaded?.symbol(named: name)?.address
            return "Line \(line) of \"\(fileName)\"" +
                (start.map { " is the definition of \(name) [\(moduleName)], which starts at address \(hex($0)) <\(name)>." }
                    ?? " is the definition of \(name) [\(moduleName)] (module \(moduleName) is not loaded).")
        }
        return nil
    }

    static func line(_ text: String, _ session: Session) throws -> String {
        let target = try session.requireTarget()
        let d = try target.requireDebugInfo()
        let kaslr = target.symbols?.kaslrOffset ?? 0
        if let f = d.function(text), let file = f.declFile, let line = f.declLine {
            let start = target.symbols?.lookup(text)?.address
            return "Line \(line) of \"\(file)\"" + (start.map { " is the definition of \(text), which starts at address \(hex($0)) <\(text)>." } ?? ".")
        }
        if let answer = try moduleLine(text, session) { return answer }
        let address = try ExamineCommand.address(of: text, session, physical: false)
        guard let loc = d.sourceLocation(linkAddress: address &- kaslr) else {
            throw CommandError.noDebugInfo("No line number information available for address \(hex(address))")
        }
        let sym = target.symbols?.describeForPointer(address).map { " <\($0)>" } ?? ""
        var out = "Line \(loc.line) of \"\(loc.file)\" contains address \(hex(address))\(sym)"
        if let fn = loc.function { out += " in \(fn)" }
        out += "."
        if !loc.inlineChain.isEmpty { out += "\ninlined: " + loc.inlineChain.joined(separator: " <- ") }
        return out
    }
}
