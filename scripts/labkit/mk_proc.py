"""The host's /proc files of the lab multikernel: iomem and kimage, and the VMCOREINFO note each
guest keeps in its RAM."""


import elfread
from mk_layout import START_KERNEL_MAP


HOST_IOMEM_LOW = [
    # (depth, start, end, name): the made-up host below the pool
    (0, 0x00000000, 0x00000fff, "Reserved"),
    (0, 0x00001000, 0x0009fbff, "System RAM"),
    (0, 0x0009fc00, 0x0009ffff, "Reserved"),
    (0, 0x000a0000, 0x000bffff, "PCI Bus 0000:00"),
    (0, 0x000c0000, 0x000c99ff, "Video ROM"),
    (0, 0x000f0000, 0x000fffff, "Reserved"),
    (1, 0x000f0000, 0x000fffff, "System ROM"),
    (0, 0x00100000, 0x7ffdffff, "System RAM"),
    (1, 0x2a000000, 0x2b1fffff, "Kernel code"),
    (1, 0x2b200000, 0x2bbfffff, "Kernel rodata"),
    (1, 0x2bc00000, 0x2bf3ffff, "Kernel data"),
    (1, 0x2c3b0000, 0x2c5fffff, "Kernel bss"),
    (0, 0x7ffe0000, 0x7fffffff, "Reserved"),
    (0, 0x80000000, 0xafffffff, "PCI Bus 0000:00"),
    (0, 0xb0000000, 0xbfffffff, "PCI MMCONFIG 0000 [bus 00-ff]"),
    (1, 0xb0000000, 0xbfffffff, "Reserved"),
    (0, 0xc0000000, 0xfebfffff, "PCI Bus 0000:00"),
    (1, 0xfe000000, 0xfe003fff, "0000:0a:00.0"),
    (0, 0xfec00000, 0xfec003ff, "IOAPIC 0"),
    (0, 0xfed00000, 0xfed003ff, "HPET 0"),
    (0, 0xfee00000, 0xfee00fff, "Local APIC"),
    (0, 0xfffc0000, 0xffffffff, "Reserved"),
]
HOST_RAM_HIGH = (0x100000000, 0x27fffffff)


def iomem_text(cfg, low=HOST_IOMEM_LOW, high=HOST_RAM_HIGH):
    """/proc/iomem as the kernel prints it: "%*s%0*llx-%0*llx : %s" (width 8, 2 spaces a level)."""
    rows = list(low)
    regions = [(i["host_phys"], i["host_phys"] + i["bytes"] - 1,
                "mk-instance-%d-%s-region-0" % (i["id"], i["name"])) for i in cfg["instances"]]
    if cfg.get("daxfs"):  # a /dev/dma_heap/multikernel buffer, named as the heap names it
        base, size = cfg["daxfs"]
        regions.append((base, base + size - 1, "daxfs"))
    pool = [(2, a, b, n) for a, b, n in sorted(regions)]
    if high:
        rows.append((0, high[0], high[1], "System RAM"))
    for base, size in cfg["pool_chunks"]:
        rows.append((1 if high else 0, base, base + size - 1, "Multikernel Memory Pool"))
        rows += [(d if high else d - 1, a, b, n) for d, a, b, n in pool if base <= a <= base + size - 1]
    return "".join("%s%08x-%08x : %s\n" % ("  " * d, a, b, n) for d, a, b, n in rows)


def vmcoreinfo_text(ram_path, phys, offset=0):
    """The VMCOREINFO note's text from a RAM file (guest-physical phys at file offset phys+offset)."""
    with open(ram_path, "rb") as f:
        f.seek(phys + offset)
        descsz = elfread.vmcoreinfo_note_size(f.read(24), 0x10000)
        if descsz is None:
            return None
        return f.read(descsz).decode(errors="replace")


def vmcoreinfo_kv(text):
    return dict(line.split("=", 1) for line in (text or "").splitlines() if "=" in line)


def vmlinux_loads(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for ph in elfread.program_headers(f) if ph.type == elfread.PT_LOAD)
    except (OSError, elfread.ElfError):
        return 4


def kimage_text(cfg):
    out = ["MK_ID  Type        Start Address   Segments  Mode  Cmdline",
           "-----  ----------  --------------  --------  ----  -------"]
    rows = 0
    for inst in cfg["instances"]:
        if "ram" not in inst:
            continue
        kv = vmcoreinfo_kv(vmcoreinfo_text(inst["ram"], inst["vmcoreinfo"][0]))
        start = inst["host_phys"] + 0x1000000
        try:
            stext = int(kv["SYMBOL(_stext)"], 16)
            start = inst["host_phys"] + stext - START_KERNEL_MAP + int(kv["NUMBER(phys_base)"])
        except (KeyError, ValueError):
            pass
        segments = vmlinux_loads(inst.get("vmlinux", "")) + 1  # + initramfs
        out.append("%5d  %-10s  0x%012x  %8d  %-4s  \"%s\"" % (inst["id"], "multikernel", start, segments,
                                                             "file", inst["cmdline"]))
        rows += 1
    if rows == 0:
        out.append("No kimages loaded")
    return "\n".join(out) + "\n"
