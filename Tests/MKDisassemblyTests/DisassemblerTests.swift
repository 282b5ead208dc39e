import XCTest
import MKDisassembly

/// Hand-assembled code: the bytes and what objdump says of them.
final class DisassemblerTests: XCTestCase {
    /// Code at `base`, nothing else mapped.
    final class Bytes: CodeMemory {
        let base: UInt64
        let bytes: [UInt8]
        init(_ bytes: [UInt8], at base: UInt64) { self.bytes = bytes; self.base = base }
        struct Unmapped: Error, CustomStringConvertible {
            let address: UInt64
            var description: String { "no page at 0x" + String(address, radix: 16) }
        }
        func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8] {
            guard address >= base, address - base + UInt64(count) <= UInt64(bytes.count) else { throw Unmapped(address: address) }
            let o = Int(address - base)
            return Array(bytes[o..<(o + count)])
        }
    }

    static let base: UInt64 = 0xffff_ffff_8100_0000

    /// One page: `push %rbp; mov %rsp,%rbp; call +0x10; mov 0x20(%rip),%rax; (bad); ret`, zeros after.
    static func page() -> [UInt8] {
        var b: [UInt8] = [0x55, 0x48, 0x89, 0xe5, 0xe8, 0x10, 0x00, 0x00, 0x00,
                          0x48, 0x8b, 0x05, 0x20, 0x00, 0x00, 0x00, 0x06, 0xc3]
        b += [UInt8](repeating: 0, count: 4096 - b.count)
        return b
    }

    /// UD1 takes a ModRM byte (6.12's traps are `0f b9 cc`, objdump's `ud1 %esp,%ecx`):
    /// three bytes, then the next instruction, not a 2-byte ud1 and an int3.
    func testUd1TakesItsModRM() throws {
        let code: [UInt8] = [0x0f, 0xb9, 0xcc, 0x0f, 0xb9, 0x40, 0x10, 0xc3]
        let d = try Disassembler(instructionSet: .x86_64)
        let page = code + [UInt8](repeating: 0, count: 4096 - code.count)
        let insns = try d.disassemble(Bytes(page, at: Self.base), range: Self.base..<(Self.base + UInt64(code.count)))
        XCTAssertEqual(insns.map { $0.address - Self.base }, [0, 3, 7])
        XCTAssertEqual(insns[0].text, "ud1    %esp,%ecx")
        XCTAssertEqual(insns[1].text, "ud1    0x10(%rax),%eax")
        XCTAssertEqual(insns[2].text, "ret")
    }

    func testATTDecodesLikeObjdump() throws {
        let d = try Disassembler(instructionSet: .x86_64)
        let insns = try d.disassemble(Bytes(Self.page(), at: Self.base), range: Self.base..<(Self.base + 18))
        XCTAssertEqual(insns.map { $0.address - Self.base }, [0, 1, 4, 9, 16, 17])
        XCTAssertEqual(insns[0].text, "push   %rbp")
        XCTAssertEqual(insns[1].text, "mov    %rsp,%rbp")
        // The call's target is the end of the call (9) plus 0x10.
        XCTAssertTrue(insns[2].isCall)
        XCTAssertEqual(insns[2].branchTarget, Self.base + 9 + 0x10)
        XCTAssertEqual(insns[2].operands, "0x" + String(Self.base + 0x19, radix: 16))
        // RIP-relative: the end of the mov (16) plus 0x20.
        XCTAssertEqual(insns[3].memoryReference, Self.base + 16 + 0x20)
        XCTAssertEqual(insns[3].operands, "0x20(%rip),%rax")
        // 0x06 (push %es) is invalid in 64-bit mode: one byte of (bad), then on.
        XCTAssertFalse(insns[4].isValid)
        XCTAssertEqual(insns[4].bytes, [0x06])
        XCTAssertEqual(insns[4].text, "(bad)")
        XCTAssertTrue(insns[5].isReturn)
        XCTAssertEqual(insns[5].hexBytes, "c3")
    }

    func testIntelFlavor() throws {
        let d = try Disassembler(instructionSet: .x86_64, flavor: .intel)
        let insns = d.decode(Array(Self.page().prefix(16)), at: Self.base)
        XCTAssertEqual(insns[1].text, "mov    rbp,rsp")
        XCTAssertEqual(insns[3].operands, "rax,qword ptr [rip + 0x20]")
    }

    func testCountContinuesAndStops() throws {
        let d = try Disassembler(instructionSet: .x86_64)
        let mem = Bytes(Self.page(), at: Self.base)
        let two = try d.disassemble(mem, from: Self.base + 4, count: 2)
        XCTAssertEqual(two.map(\.address), [Self.base + 4, Self.base + 9])
        XCTAssertEqual(two.last?.end, Self.base + 16)
    }

    func testUnreadableNamesTheAddress() throws {
        let d = try Disassembler(instructionSet: .x86_64)
        let mem = Bytes(Self.page(), at: Self.base)
        XCTAssertThrowsError(try d.disassemble(mem, from: Self.base + 4096, count: 1)) { error in
            guard case let DisassemblyError.unreadable(address, reason)? = error as? DisassemblyError else {
                return XCTFail("expected unreadable, got \(error)")
            }
            XCTAssertEqual(address, Self.base + 4096)
            XCTAssertTrue(reason.contains("no page"), reason)
        }
        // An instruction cut by the end of the readable page: the error names the next page.
        var cut = Self.page()
        cut[4094] = 0x48; cut[4095] = 0x8b
        XCTAssertThrowsError(try d.disassemble(Bytes(cut, at: Self.base), from: Self.base + 4094, count: 1)) { error in
            XCTAssertEqual((error as? DisassemblyError).flatMap {
                if case let .unreadable(a, _) = $0 { return a } else { return nil }
            }, Self.base + 4096)
        }
    }

    func testTooLargeIsRefused() throws {
        let d = try Disassembler(instructionSet: .x86_64)
        let mem = Bytes(Self.page(), at: Self.base)
        XCTAssertThrowsError(try d.disassemble(mem, range: Self.base..<(Self.base + UInt64(Disassembler.maxBytes) + 1)))
    }

    /// arm64 is one table entry away: `bl +8; ret; <invalid word>; nop`.
    func testArm64() throws {
        let d = try Disassembler(instructionSet: .arm64)
        let code: [UInt8] = [0x02, 0x00, 0x00, 0x94, 0xc0, 0x03, 0x5f, 0xd6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x20, 0x03, 0xd5]
        let insns = d.decode(code, at: 0xffff_8000_1000_0000)
        XCTAssertEqual(insns.map(\.mnemonic), ["bl", "ret", "(bad)", "nop"])
        XCTAssertEqual(insns[0].branchTarget, 0xffff_8000_1000_0008)
        XCTAssertTrue(insns[0].isCall)
        XCTAssertEqual(insns[2].bytes.count, 4)
    }
}
