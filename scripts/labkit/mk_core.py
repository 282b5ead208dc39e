"""ELF core writing for the lab multikernel (kcore and host-kcore look-alikes): headers, notes,
NT_PRSTATUS from QEMU's `info registers -a`, segment layout."""

import re
import struct

from mk_layout import PAGE


ELF_HDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
EM_X86_64, EM_AARCH64 = 62, 183
NT_PRSTATUS, NT_PRPSINFO = 1, 3
PRSTATUS_SIZE = 336
# user_regs_struct order (pr_reg at offset 112 of struct elf_prstatus)
USER_REGS = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
             "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
             "ds", "es", "fs", "gs"]


def elf_header(phnum, machine=EM_X86_64):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ELF_HDR.pack(ident, 4, machine, 1, 0, 64, 0, 0, 64, PHDR.size, phnum, 0, 0, 0)


def note(name, ntype, desc):
    n = name.encode() + b"\0"
    return (struct.pack("<III", len(n), len(desc), ntype) + n.ljust((len(n) + 3) & ~3, b"\0")
            + desc.ljust((len(desc) + 3) & ~3, b"\0"))


def prstatus(regs, pid=0):
    desc = bytearray(PRSTATUS_SIZE)
    struct.pack_into("<i", desc, 32, pid)
    struct.pack_into("<27Q", desc, 112, *[regs.get(r, 0) & 0xffffffffffffffff for r in USER_REGS])
    return bytes(desc)


HMP_REG = re.compile(r"\b(R[A-Z0-9]{1,2}|RIP|RFL|ES|CS|SS|DS|FS|GS) ?=([0-9a-f]+)(?: ([0-9a-f]{16}))?")


def parse_registers(text):
    """HMP `info registers -a` -> one dict per CPU (user_regs_struct names)."""
    cpus = []
    for block in re.split(r"^CPU#\d+\s*$", text, flags=re.M)[1:]:
        regs = {}
        for m in HMP_REG.finditer(block):
            name, val, base = m.group(1), int(m.group(2), 16), m.group(3)
            if name in ("ES", "CS", "SS", "DS", "FS", "GS"):
                regs[name.lower()] = val
                if name in ("FS", "GS") and base:
                    regs[name.lower() + "_base"] = int(base, 16)
            elif name == "RFL":
                regs["eflags"] = val
            elif name.startswith("R"):
                regs[name.lower()] = val
        cpus.append(regs)
    return cpus


class Segment:
    """A PT_LOAD whose bytes come from `path` at `file_off`."""

    def __init__(self, paddr, size, path, file_off, vaddr=0):
        self.paddr, self.size, self.path, self.file_off, self.vaddr = paddr, size, path, file_off, vaddr
        self.offset = 0  # in the ELF file, set by layout()


def core_layout(segments, notes_room, phnum_extra=1):
    """Place segments after the headers and notes_room bytes; returns (data_start, total size)."""
    head = 64 + PHDR.size * (len(segments) + phnum_extra) + notes_room
    off = (head + PAGE - 1) & ~(PAGE - 1)
    start = off
    for s in segments:
        s.offset = off
        off += (s.size + PAGE - 1) & ~(PAGE - 1)
    return start, off


def core_headers(segments, notes_blob, paddr_of=lambda s: s.paddr, vaddr_of=lambda s: s.vaddr, machine=EM_X86_64):
    phnum = len(segments) + 1
    out = elf_header(phnum, machine)
    notes_off = 64 + PHDR.size * phnum
    out += PHDR.pack(PT_NOTE, 0, notes_off, 0, 0, len(notes_blob), len(notes_blob), 0)
    for s in segments:
        out += PHDR.pack(PT_LOAD, 7, s.offset, vaddr_of(s), paddr_of(s), s.size, s.size, 0)
    return out + notes_blob
