import CElf
#if canImport(Glibc)
import Glibc
#endif
import MKSystem

// Every raw libelf/libdwelf call of the project goes through this file.

/// An ELF file opened read-only through libelf (mmap-backed).
final class LibElfFile {
    let path: String
    private let file: FileDescriptor
    let elf: OpaquePointer

    init(path: String) throws {
        self.path = path
        _ = elf_version(UInt32(EV_CURRENT))
        let file: FileDescriptor
        do {
            file = try FileDescriptor(open: path, O_RDONLY)
        } catch let e as Errno {
            throw DebugInfoError.cannotOpen(path: path, reason: e.reason)
        }
        guard let elf = elf_begin(file.rawValue, ELF_C_READ_MMAP, nil) else {
            throw DebugInfoError.cannotOpen(path: path, reason: Self.lastError())
        }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            throw DebugInfoError.notElf(path: path)
        }
        self.file = file
        self.elf = elf
    }

    // The descriptor closes after this, when `file` goes.
    deinit { elf_end(elf) }

    static func lastError() -> String {
        guard let msg = elf_errmsg(-1) else { return "unknown libelf error" }
        return String(cString: msg)
    }

    var elfType: Int {
        var ehdr = GElf_Ehdr()
        guard gelf_getehdr(elf, &ehdr) != nil else { return -1 }
        return Int(ehdr.e_type)
    }

    /// GNU build-id, lower-case hex, from the `.note.gnu.build-id` note.
    var buildId: String? {
        var ptr: UnsafeRawPointer?
        let n = dwelf_elf_gnu_build_id(elf, &ptr)
        guard n > 0, let ptr else { return nil }
        let bytes = UnsafeRawBufferPointer(start: ptr, count: Int(n))
        return bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    struct Section {
        var name: String
        var address: UInt64
        var offset: UInt64
        var size: UInt64
        var type: UInt32
        var scn: OpaquePointer
        var link: UInt32
        var entrySize: UInt64
        var flags: UInt64
    }

    func sections() -> [Section] {
        var shstrndx = 0
        guard elf_getshdrstrndx(elf, &shstrndx) == 0 else { return [] }
        var result: [Section] = []
        var scn: OpaquePointer? = nil
        while let s = elf_nextscn(elf, scn) {
            scn = s
            var shdr = GElf_Shdr()
            guard gelf_getshdr(s, &shdr) != nil else { continue }
            let name = elf_strptr(elf, shstrndx, Int(shdr.sh_name)).map { String(cString: $0) } ?? ""
            result.append(Section(name: name, address: shdr.sh_addr, offset: shdr.sh_offset, size: shdr.sh_size,
                                  type: shdr.sh_type, scn: s, link: shdr.sh_link, entrySize: shdr.sh_entsize,
                                  flags: shdr.sh_flags))
        }
        return result
    }

    /// Raw symbols of `.symtab` (or `.dynsym` when stripped).
    func symbols() -> [RawSymbol] {
        let all = sections()
        guard let symtab = all.first(where: { $0.type == UInt32(SHT_SYMTAB) })
                ?? all.first(where: { $0.type == UInt32(SHT_DYNSYM) }),
              let data = elf_getdata(symtab.scn, nil) else { return [] }
        let entrySize = symtab.entrySize == 0 ? 24 : symtab.entrySize
        let count = Int(symtab.size / entrySize)
        var result: [RawSymbol] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            var sym = GElf_Sym()
            guard gelf_getsym(data, Int32(i), &sym) != nil else { continue }
            guard let namePtr = elf_strptr(elf, Int(symtab.link), Int(sym.st_name)) else { continue }
            let info = sym.st_info
            result.append(RawSymbol(name: String(cString: namePtr), value: sym.st_value, size: sym.st_size,
                                    type: info & 0xf, binding: info >> 4, section: sym.st_shndx))
        }
        return result
    }

    /// Bytes of the file at a virtual address, from the section that holds it.
    func bytes(atAddress address: UInt64, count: Int) -> [UInt8]? {
        for s in sections() where s.type == UInt32(SHT_PROGBITS) && address >= s.address && address - s.address < s.size {
            guard let data = elf_getdata(s.scn, nil), let buf = data.pointee.d_buf else { return nil }
            let at = Int(address - s.address)
            let n = min(count, Int(data.pointee.d_size) - at)
            guard n > 0 else { return nil }
            return Array(UnsafeRawBufferPointer(start: buf + at, count: n))
        }
        return nil
    }

    /// The bytes of the first section called `name` and its link address
    /// (nil when there is none, or it has no bytes in the file).
    func sectionContents(named name: String) -> (address: UInt64, bytes: [UInt8])? {
        guard let s = sections().first(where: { $0.name == name }), s.type != UInt32(SHT_NOBITS),
              let data = elf_getdata(s.scn, nil), let buf = data.pointee.d_buf else { return nil }
        return (s.address, Array(UnsafeRawBufferPointer(start: buf, count: Int(data.pointee.d_size))))
    }
}

extension LibElfFile {
    /// The mapped bytes of section `name` in place, valid while this file is
    /// open; nil when absent, empty of file bytes, or compressed.
    func mappedSection(named name: String) -> UnsafeRawBufferPointer? {
        guard let s = sections().first(where: { $0.name == name }), s.type != UInt32(SHT_NOBITS),
              s.flags & UInt64(SHF_COMPRESSED) == 0,
              let data = elf_getdata(s.scn, nil), let buf = data.pointee.d_buf else { return nil }
        return UnsafeRawBufferPointer(start: buf, count: Int(data.pointee.d_size))
    }
}

struct RawSymbol {
    var name: String
    var value: UInt64
    var size: UInt64
    var type: UInt8
    var binding: UInt8
    var section: UInt16

    static let typeObject: UInt8 = 1, typeFunc: UInt8 = 2, typeSection: UInt8 = 3, typeFile: UInt8 = 4
}
