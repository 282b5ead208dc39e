"""The scripts' one ELF64 little-endian reader (stdlib only): headers, program headers, sections,
notes, and the two notes the scripts look for (GNU build-id, VMCOREINFO).

Independent of mkdbg's Swift reader on purpose: the scripts check mkdbg, so they must not share
its code. Every length read from a file is checked; a bad file raises ElfError naming the file,
the offset and what was expected.

Imported by scripts/labkit/{labtool,mklab}.py, scripts/paritykit/parity.py and
scripts/benchkit/bench.py, each after putting scripts/pylib on sys.path.
"""
import collections
import struct

PT_LOAD, PT_NOTE = 1, 4
SHT_NOTE = 7
NT_GNU_BUILD_ID = 3
NOTE_HEADER = struct.Struct("<III")  # namesz, descsz, type
MAX_NOTES = 1 << 24                  # the most of a PT_NOTE segment read (16 MiB)

ProgramHeader = collections.namedtuple("ProgramHeader", "type flags offset vaddr paddr filesz memsz align")
Section = collections.namedtuple("Section", "name type offset size")
Header = collections.namedtuple("Header", "phoff phentsize phnum shoff shentsize shnum shstrndx")


class ElfError(ValueError):
    pass


def _name(f):
    return getattr(f, "name", "<buffer>")


def _read_at(f, offset, size, what):
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ElfError("%s: %s at offset %#x: expected %d bytes, the file has %d"
                       % (_name(f), what, offset, size, len(data)))
    return data


def header(f):
    """The ELF64 LE header's table positions; ElfError if f is not an ELF64 LE file."""
    f.seek(0)
    ident = f.read(64)
    if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        raise ElfError("%s: offset 0: expected a little-endian ELF64 header" % _name(f))
    phoff, shoff = struct.unpack_from("<QQ", ident, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", ident, 0x36)
    return Header(phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx)


def program_headers(f):
    """Every program header of an ELF64 LE file, in file order."""
    h = header(f)
    if h.phnum and h.phentsize < 56:
        raise ElfError("%s: offset 0x36: expected e_phentsize >= 56, got %d" % (_name(f), h.phentsize))
    raw = _read_at(f, h.phoff, h.phentsize * h.phnum, "program headers")
    return [ProgramHeader(*struct.unpack_from("<IIQQQQQQ", raw, i * h.phentsize)) for i in range(h.phnum)]


def sections(f):
    """Every section of an ELF64 LE file (name, type, offset, size), in file order."""
    h = header(f)
    if h.shnum == 0:
        return []
    if h.shentsize < 64:
        raise ElfError("%s: offset 0x3a: expected e_shentsize >= 64, got %d" % (_name(f), h.shentsize))
    if h.shstrndx >= h.shnum:
        raise ElfError("%s: offset 0x3e: e_shstrndx %d is not below e_shnum %d" % (_name(f), h.shstrndx, h.shnum))
    raw = _read_at(f, h.shoff, h.shentsize * h.shnum, "section headers")
    shdrs = [struct.unpack_from("<IIQQQQIIQQ", raw, i * h.shentsize) for i in range(h.shnum)]
    strtab = shdrs[h.shstrndx]
    names = _read_at(f, strtab[4], strtab[5], "section names")
    out = []
    for sh in shdrs:
        end = names.find(b"\0", sh[0])
        if end < 0:
            raise ElfError("%s: section name at %#x of the string table has no NUL" % (_name(f), sh[0]))
        out.append(Section(names[sh[0]:end].decode(errors="replace"), sh[1], sh[4], sh[5]))
    return out


def notes(blob):
    """Yield (name, type, desc) for the ELF notes in blob; a note cut short ends the walk."""
    i = 0
    while i + 12 <= len(blob):
        namesz, descsz, ntype = NOTE_HEADER.unpack_from(blob, i)
        i += 12
        name = blob[i:i + namesz].rstrip(b"\0").decode(errors="replace")
        i += (namesz + 3) & ~3
        desc = blob[i:i + descsz]
        i += (descsz + 3) & ~3
        yield name, ntype, desc


def build_id(f):
    """Hex GNU build-id from the SHT_NOTE sections, or None."""
    for s in sections(f):
        if s.type != SHT_NOTE:
            continue
        for name, ntype, desc in notes(_read_at(f, s.offset, s.size, "section " + s.name)):
            if name == "GNU" and ntype == NT_GNU_BUILD_ID:
                return desc.hex()
    return None


def core_vmcoreinfo(f):
    """VMCOREINFO text of an ELF core (its PT_NOTE segments; trailing NULs dropped), or None."""
    for ph in program_headers(f):
        if ph.type != PT_NOTE:
            continue
        f.seek(ph.offset)
        for name, _t, desc in notes(f.read(min(ph.filesz, MAX_NOTES))):
            if name == "VMCOREINFO":
                return desc.rstrip(b"\0").decode("utf-8", "replace")
    return None


def vmcoreinfo_note_size(head, limit):
    """descsz when head (the note's first 24 bytes) starts a VMCOREINFO note of at most limit
    bytes, else None: how the lab finds the note a kernel keeps in its own memory."""
    if len(head) < 24:
        return None
    namesz, descsz, ntype = NOTE_HEADER.unpack_from(head)
    if namesz != 11 or ntype != 0 or head[12:23] != b"VMCOREINFO\0" or descsz > limit:
        return None
    return descsz
