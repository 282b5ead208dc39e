#if canImport(Glibc)
import Glibc
#endif
import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// The expression lexer, parser, evaluator and value printer (`print`) over
/// real DWARF (Tests/Fixtures/fuzz/fuzz_types.c, compiled by gcc -g) and a
/// synthetic memory: the input is `EXPRESSION\0MEMORY`, the memory bytes
/// laid from fuzz_window on (zeros after them, errors outside the window).
struct ExpressionFuzz: FuzzTarget {
    static let name = "expression"
    let debugInfo: DebugInfo
    let symbols: SymbolTable
    let memory: WindowMemory

    init() {
        guard let raw = getenv("MKDBG_FUZZ_TYPES") else {
            fail("set MKDBG_FUZZ_TYPES to fuzz_types built by `gcc -g -no-pie Tests/Fixtures/fuzz/fuzz_types.c` (scripts/fuzz does)")
        }
        let path = String(cString: raw)
        do {
            let vmlinux = try Vmlinux(path: path)
            debugInfo = try DebugInfo.load(vmlinux, cacheDirectory: nil)
            symbols = try vmlinux.symbolTable(kaslrOffset: 0, space: X86_64Layout.space)
        } catch {
            fail("\(path): \(error)")
        }
        guard let window = symbols.lookup("fuzz_window") else { fail("\(path) has no fuzz_window symbol") }
        memory = WindowMemory(base: window.address, size: 1 << 16)
    }

    func run(_ data: [UInt8]) {
        let split = data.firstIndex(of: 0) ?? data.count
        let text = String(decoding: data[..<min(split, 1024)], as: UTF8.self)
        memory.bytes = split < data.count ? Array(data[(split + 1)...].prefix(memory.size)) : []
        _ = try? Lexer().tokenize(text)
        let evaluator = Evaluator(types: debugInfo, memory: memory, symbols: symbols)
        _ = try? evaluator.parser.parseTypeOrExpression(text)
        guard let value = try? evaluator.evaluate(text) else { return }
        let symbols = self.symbols
        for format in [nil, "x", "d", "c", "s"] as [Character?] {
            _ = try? ValueFormatter(memory: memory, format: format, symbolize: { symbols.describe($0) }).top(value)
        }
    }
}

/// Memory that exists only in a window: the input's bytes, then zeros.
final class WindowMemory: ValueMemory {
    let base: UInt64
    let size: Int
    var bytes: [UInt8] = []

    init(base: UInt64, size: Int) {
        self.base = base
        self.size = size
    }

    struct Unmapped: Error { let address: UInt64 }

    func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, address >= base, address - base <= UInt64(size), count <= size - Int(address - base) else {
            throw Unmapped(address: address)
        }
        let start = Int(address - base)
        var out = [UInt8](repeating: 0, count: count)
        if start < bytes.count {
            let n = min(count, bytes.count - start)
            for i in 0..<n { out[i] = bytes[start + i] }
        }
        return out
    }
}
