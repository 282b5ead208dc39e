#!/usr/bin/env python3
"""The lab's multikernel: a kernfs look-alike over the lab's QEMU guests (see scripts/lab mk-*).

  mklab.py config OUT ROOT SHARED NAME=RUNDIR...
        write the lab configuration OUT (lab.json) for the guests' run dirs (guest.json there)
  mklab.py prepare CONFIG
        write ROOT/proc/{iomem,kimage}, the device-tree blobs and the boot manifests
  mklab.py serve CONFIG
        mount the FUSE file system at ROOT/sys/fs/multikernel and serve it until SIGTERM
        (needs python3-pyfuse3: run it with Debian's /usr/bin/python3)
  mklab.py fallback DIR CONFIG [--instance web] [--host-base HEX] [--direct-map HEX] [--crash-notes]
        today's-upstream fixture: DIR/proc/kcore (host-kcore-style ELF), DIR/proc/{iomem,kimage},
        DIR/sys/fs/multikernel/{device_tree,instances/<name>/{id,status,device_tree},overlays/}
        and DIR/lab.json; the instance's RAM is copied (sparse) from its live RAM file while it
        is stopped; --crash-notes: a halted instance (status loaded) whose CPUs saved their
        registers as crash notes when they stopped (written into the copy only)

Addresses. The lab places each instance in a made-up host-physical address space (LAYOUT below):
/proc/iomem, the pool and instance device trees and /proc/kimage use host-physical addresses.
Each instance is a QEMU guest whose kernel runs on guest-physical addresses 0..RAM size, so
everything a debugger dereferences (kcore p_paddr, vmcoreinfo, the NT_PRSTATUS registers) is
guest-physical: host-physical = guest-physical + the instance's region base. The shared pages
(inboxes, boot manifests) sit at 0x180000000, outside every guest's RAM and outside the pool, so
their addresses read the same in both spaces.
"""
import errno
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/ from importing qmp.py, elfread.py
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(os.path.dirname(HERE), "pylib"))
import elfread  # noqa: E402  (the scripts' shared ELF reader)
from qmp import QMP, QMPError  # noqa: E402

PAGE = 4096

# ------------------------------------------------------------------ layout

# The made-up host: 8 CPUs (APIC ids 0-7), host keeps 0-1, pool is 2-7; 8 GiB of RAM with one
# 2 GiB pool chunk at 0x100000000.
HOST_CPUS = list(range(8))
HOST_OWN_CPUS = [0, 1]
POOL_CHUNKS = [(0x100000000, 0x80000000)]
LAYOUT = [
    # name, id, cpus (physical ids; guest vCPU k = cpus[k]), host-physical base, bytes
    {"name": "web", "id": 1, "cpus": [2, 3], "host_phys": 0x100000000, "bytes": 0x20000000},
    {"name": "db", "id": 2, "cpus": [4, 5], "host_phys": 0x140000000, "bytes": 0x20000000},
    {"name": "spare", "id": 3, "cpus": [6], "host_phys": 0x160000000, "bytes": 0x10000000},
]
SHARED_PHYS = 0x180000000          # lab-owned shared memory (a file in /dev/shm)
SHARED_SIZE = 0x400000             # 4 MiB: three inboxes, then three 256 KiB boot manifests
INBOX_STRIDE = 0x80000             # inbox of kernel id i at SHARED_PHYS + i * INBOX_STRIDE (host = 0)
INBOX_SIZE = 65 * PAGE             # sizeof(struct mk_shared_data) = 264208 -> 65 pages
MANIFEST_BASE = 0x200000           # boot manifest of instance id i at + (i - 1) * MANIFEST_SIZE
MANIFEST_SIZE = 0x40000            # MK_MANIFEST_SIZE, 256 KiB (include/linux/multikernel.h @ 223163d8)
HOST_TREE_MAX = 0x20000            # MK_HOST_TREE_MAX, 128 KiB: the most a user host tree may take
# The host's pool park set (park page, page tables, slot) at the top of the pool chunk, as
# mk_pool_park_regions() reports it; pool CPUs wait at the slot (multikernel,pool-slot).
POOL_PARK = (0x17fff8000, 0x8000)
POOL_SLOT = 0x17ffff000
# A /dev/dma_heap/multikernel buffer (downstream trees): a daxfs child of the pool in /proc/iomem,
# in the pool memory no instance holds.
DAXFS_BUFFER = (0x170000000, 0x4000000)

START_KERNEL_MAP = 0xffffffff80000000


def inbox_phys(kid):
    return SHARED_PHYS + kid * INBOX_STRIDE


def manifest_phys(kid):
    return SHARED_PHYS + MANIFEST_BASE + (kid - 1) * MANIFEST_SIZE


def load_json(path):
    with open(path) as f:
        return json.load(f)


def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def log(msg):
    sys.stderr.write("mklab: %s\n" % msg)
    sys.stderr.flush()


# ------------------------------------------------------------------ config


def cmd_config(out, root, shared, pairs):
    runs = dict(p.split("=", 1) for p in pairs)
    cfg = {"root": os.path.abspath(root), "shared": {"path": shared, "phys": SHARED_PHYS, "size": SHARED_SIZE},
           "host_cpus": HOST_CPUS, "host_own_cpus": HOST_OWN_CPUS,
           "pool_chunks": [list(c) for c in POOL_CHUNKS],
           "host_inbox": [inbox_phys(0), INBOX_SIZE], "pool_slot": POOL_SLOT, "pool_park": list(POOL_PARK),
           "daxfs": list(DAXFS_BUFFER), "instances": []}
    for lay in LAYOUT:
        inst = dict(lay)
        inst["guest_phys"] = 0
        run = runs.get(inst["name"])
        if run:
            g = load_json(os.path.join(run, "guest.json"))
            inst.update({
                "run": run, "guest": g["name"], "ram": g["ram"], "pid": g["pid"],
                "qmp": os.path.join(run, "fs.sock"), "cmdline": g["cmdline"],
                "vmcoreinfo": [g["vmcoreinfo_phys"], g["vmcoreinfo_size"]],
                "vmlinux": g["vmlinux"], "release": g["release"], "build_id": g["build_id"],
                "token": g["token"], "marker": g["marker"], "processes": g["processes"], "pids": g["pids"],
                "inbox": [inbox_phys(inst["id"]), INBOX_SIZE],
                "manifest": [manifest_phys(inst["id"]), MANIFEST_SIZE],
            })
            if os.path.getsize(g["ram"]) < inst["bytes"]:
                raise SystemExit("mklab: %s is smaller than %#x" % (g["ram"], inst["bytes"]))
        cfg["instances"].append(inst)
    with open(out + ".tmp", "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    os.replace(out + ".tmp", out)


# ------------------------------------------------------------------ device trees


def u64s(vals):
    return "/bits/ 64 <%s>" % " ".join("0x%x" % v for v in vals)


def pci_bridge_dts(indent="\t"):
    """The PCI hierarchy of upstream.md 3.7: a virtio-net function 0000:09:00.0 behind a bridge."""
    i = indent
    return "\n".join([
        i + "pci@0 {",
        i + "\tcompatible = \"multikernel,pci-host-bridge\";",
        i + "\tdevice_type = \"pci\";",
        i + "\t#address-cells = <3>;",
        i + "\t#size-cells = <2>;",
        i + "\tlinux,pci-domain = <0>;",
        i + "\tbus-range = <0x0 0xff>;",
        i + "\treg = <0x0 0xb0000000 0x0 0x10000000>;",
        i + "\tranges = <0x02000000 0x0 0x80000000 0x0 0x80000000 0x0 0x30000000>;",
        i + "\tpci@3,0 {",
        i + "\t\tdevice_type = \"pci\";",
        i + "\t\t#address-cells = <3>;",
        i + "\t\t#size-cells = <2>;",
        i + "\t\treg = <0x1800 0x0 0x0 0x0 0x0>;",
        i + "\t\tbus-range = <0x9 0x9>;",
        i + "\t\tpci@0,0 {",
        i + "\t\t\treg = <0x90000 0x0 0x0 0x0 0x0>;",
        i + "\t\t\tvendor-id = <0x1af4>;",
        i + "\t\t\tdevice-id = <0x1041>;",
        i + "\t\t};",
        i + "\t};",
        i + "};",
    ])


def instance_dts(inst, chosen=None):
    """Instance tree (upstream.md 3.3); with chosen, the boot tree (3.5) handed to the spawn."""
    lines = ["/dts-v1/;", "/ {",
             "\tcompatible = \"multikernel-v1\";",
             "\tmodel = \"%s\";" % inst["name"],
             "\t#address-cells = <2>;",
             "\t#size-cells = <2>;",
             "\tid = <%d>;" % inst["id"],
             "\tresources {",
             "\t\tmemory-base = %s;" % u64s([inst["host_phys"]]),
             "\t\tmemory-bytes = %s;" % u64s([inst["bytes"]]),
             "\t\tcpus = %s;" % u64s(inst["cpus"])]
    if inst["name"] == "web":
        lines += ["\t\tdevices {",
                  "\t\t\tserial8250 { device-type = \"platform\"; device-name = \"serial8250\"; };",
                  "\t\t};"]
    lines.append("\t};")
    if inst["name"] == "web":
        lines.append("\taliases { enp9s0 = \"/pci@0/pci@3,0/pci@0,0\"; };")
        lines.append(pci_bridge_dts())
    if chosen:
        lines += ["\tchosen {"] + ["\t\t%s;" % c for c in chosen] + ["\t};"]
    lines += ["};", ""]
    return "\n".join(lines)


def pool_dts(cfg):
    pool_cpus = [c for c in cfg["host_cpus"] if c not in cfg["host_own_cpus"]]
    used = {c for i in cfg["instances"] for c in i["cpus"]}
    lines = ["/dts-v1/;", "/ {",
             "\tcompatible = \"multikernel-v1\";",
             "\t#address-cells = <2>;",
             "\t#size-cells = <2>;",
             "\tid = <0>;",
             "\tresources {",
             "\t\tcpus = %s;" % u64s(pool_cpus),
             "\t\tcpus-available = %s;" % u64s([c for c in pool_cpus if c not in used])]
    for base, size in cfg["pool_chunks"]:
        lines += ["\t\tmemory@%x {" % base,
                  "\t\t\tdevice_type = \"memory\";",
                  "\t\t\treg = %s;" % u64s([base, size]),
                  "\t\t\tnuma-node-id = <0>;",
                  "\t\t};"]
    lines += ["\t\tdevices {",
              "\t\t\tserial_console { device-type = \"platform\"; device-name = \"serial8250\"; };",
              "\t\t};",
              "\t};",
              # a PCI function still free in the pool (web holds 0000:09:00.0)
              "\tpci@0 {",
              "\t\tcompatible = \"multikernel,pci-host-bridge\";",
              "\t\tdevice_type = \"pci\";",
              "\t\t#address-cells = <3>;",
              "\t\t#size-cells = <2>;",
              "\t\tlinux,pci-domain = <0>;",
              "\t\tbus-range = <0x0 0xff>;",
              "\t\treg = <0x0 0xb0000000 0x0 0x10000000>;",
              "\t\tranges = <0x02000000 0x0 0x80000000 0x0 0x80000000 0x0 0x30000000>;",
              "\t\tpci@4,0 {",
              "\t\t\tdevice_type = \"pci\";",
              "\t\t\t#address-cells = <3>;",
              "\t\t\t#size-cells = <2>;",
              "\t\t\treg = <0x2000 0x0 0x0 0x0 0x0>;",
              "\t\t\tbus-range = <0xa 0xa>;",
              "\t\t\tpci@0,0 {",
              "\t\t\t\treg = <0xa0000 0x0 0x0 0x0 0x0>;",
              "\t\t\t\tvendor-id = <0x1af4>;",
              "\t\t\t\tdevice-id = <0x1041>;",
              "\t\t\t};",
              "\t\t};",
              "\t};",
              "};", ""]
    return "\n".join(lines)


def boot_chosen(cfg, inst):
    """/chosen of the boot tree, as mk_manifest_chosen() writes it (manifest.c): the reserved
    ranges, the host's inbox, the pool slot, the spawn's own inbox, then the host-tree node."""
    host = cfg["host_inbox"]
    reserved = [host[0], host[1], inst["inbox"][0], inst["inbox"][1], inst["manifest"][0], inst["manifest"][1]]
    for other in cfg["instances"]:
        if other is not inst and "inbox" in other:
            reserved += [other["inbox"][0], other["inbox"][1], other["manifest"][0], other["manifest"][1]]
    reserved += list(POOL_PARK)
    # Without a user host tree the kernel names the CPUs the spawn may receive later: every other
    # kernel's and the free pool's, sorted (mk_manifest_collect_cpus).
    others = set(cfg["host_own_cpus"]) | {c for i in cfg["instances"] if i is not inst for c in i["cpus"]}
    pool = [c for c in cfg["host_cpus"] if c not in cfg["host_own_cpus"]]
    used = {c for i in cfg["instances"] for c in i["cpus"]}
    others |= {c for c in pool if c not in used}
    return ["multikernel,reserved-memory = %s" % u64s(reserved),
            "multikernel,host-ipi-buffer = %s" % u64s([host[0]]),
            "multikernel,host-ipi-pages = <%d>" % (host[1] // PAGE),
            "multikernel,pool-slot = %s" % u64s([POOL_SLOT]),
            "multikernel,ipi-buffer = %s" % u64s([inst["inbox"][0]]),
            "multikernel,ipi-pages = <%d>" % (inst["inbox"][1] // PAGE),
            "multikernel,host-tree { cpus = %s; }" % u64s(sorted(others))]


def dtc(dts):
    p = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"], input=dts.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("mklab: dtc failed: %s\n%s" % (p.stderr.decode(errors="replace"), dts))
    return p.stdout


# ------------------------------------------------------------------ /proc files

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


def vmlinux_symbols(path, names):
    """Link-time addresses of the named symbols (nm)."""
    p = subprocess.run(["nm", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("mklab: nm %s failed: %s" % (path, p.stderr.decode(errors="replace")))
    want, out = set(names), {}
    for line in p.stdout.decode(errors="replace").splitlines():
        f = line.split()
        if len(f) == 3 and f[2] in want:
            out[f[2]] = int(f[0], 16)
    missing = want - set(out)
    if missing:
        raise SystemExit("mklab: %s has no %s" % (path, " ".join(sorted(missing))))
    return out


def crash_note_addresses(inst, kv):
    """Guest-physical address of each CPU's crash_notes buffer (the per-CPU note_buf_t that
    crash_save_cpu() fills and /sys/devices/system/cpu/cpuN/crash_notes prints), from the
    guest's RAM: the crash_notes per-CPU pointer plus __per_cpu_offset[cpu], in the direct map."""
    syms = vmlinux_symbols(inst["vmlinux"], ["crash_notes", "__per_cpu_offset", "nr_cpu_ids", "page_offset_base"])
    koff = int(kv.get("KERNELOFFSET", "0"), 16)
    phys_base = int(kv.get("NUMBER(phys_base)", "0"))
    with open(inst["ram"], "rb") as ram:
        def read(sym, fmt, index=0):
            size = struct.calcsize(fmt)
            ram.seek(syms[sym] + koff - START_KERNEL_MAP + phys_base + index * size - inst["guest_phys"])
            return struct.unpack(fmt, ram.read(size))[0]
        ncpu, notes, pob = read("nr_cpu_ids", "<I"), read("crash_notes", "<Q"), read("page_offset_base", "<Q")
        if not 1 <= ncpu <= 64 or notes == 0:
            raise SystemExit("mklab: %s: nr_cpu_ids %d, crash_notes %#x: no crash notes to fill" % (inst["name"], ncpu, notes))
        out = []
        for cpu in range(ncpu):
            va = (notes + read("__per_cpu_offset", "<Q", cpu)) & 0xffffffffffffffff
            if not pob <= va < pob + inst["bytes"]:
                raise SystemExit("mklab: %s: CPU %d's crash notes at %#x are outside the direct map" % (inst["name"], cpu, va))
            out.append(va - pob)
        return out


def crash_notes_blob(regs, pid=0):
    """What crash_save_cpu() leaves in a CPU's note buffer: a CORE/NT_PRSTATUS note, then the
    empty final note."""
    return note("CORE", NT_PRSTATUS, prstatus(regs, pid)) + bytes(12)


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


def cmd_prepare(cfg_path):
    cfg = load_json(cfg_path)
    root = cfg["root"]
    state = os.path.join(os.path.dirname(cfg_path), "dt")
    write_file(os.path.join(root, "proc", "iomem"), iomem_text(cfg), 0o444)
    write_file(os.path.join(root, "proc", "kimage"), kimage_text(cfg), 0o444)
    write_file(os.path.join(state, "pool.dts"), pool_dts(cfg))
    write_file(os.path.join(state, "pool.dtb"), dtc(pool_dts(cfg)))
    shared = cfg["shared"]
    with open(shared["path"], "r+b") as f:
        for inst in cfg["instances"]:
            dts = instance_dts(inst)
            write_file(os.path.join(state, inst["name"] + ".dts"), dts)
            write_file(os.path.join(state, inst["name"] + ".dtb"), dtc(dts))
            if "manifest" in inst:
                boot = dtc(instance_dts(inst, boot_chosen(cfg, inst)))
                if len(boot) > inst["manifest"][1]:
                    raise SystemExit("mklab: boot tree of %s is %d bytes" % (inst["name"], len(boot)))
                f.seek(inst["manifest"][0] - shared["phys"])
                f.write(boot.ljust(inst["manifest"][1], b"\0"))
    os.makedirs(os.path.join(root, "sys", "fs", "multikernel"), exist_ok=True)


# ------------------------------------------------------------------ ELF cores

ELF_HDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_PRPSINFO = 1, 3
PRSTATUS_SIZE = 336
# user_regs_struct order (pr_reg at offset 112 of struct elf_prstatus)
USER_REGS = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
             "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
             "ds", "es", "fs", "gs"]


def elf_header(phnum):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ELF_HDR.pack(ident, 4, 62, 1, 0, 64, 0, 0, 64, PHDR.size, phnum, 0, 0, 0)


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


def core_headers(segments, notes_blob, paddr_of=lambda s: s.paddr, vaddr_of=lambda s: s.vaddr):
    phnum = len(segments) + 1
    out = elf_header(phnum)
    notes_off = 64 + PHDR.size * phnum
    out += PHDR.pack(PT_NOTE, 0, notes_off, 0, 0, len(notes_blob), len(notes_blob), 0)
    for s in segments:
        out += PHDR.pack(PT_LOAD, 7, s.offset, vaddr_of(s), paddr_of(s), s.size, s.size, 0)
    return out + notes_blob


# ------------------------------------------------------------------ the file system

class Lab:
    """Live state of the instances: QMP (the dedicated fs.sock of each guest) and RAM files."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.insts = {i["name"]: i for i in cfg["instances"]}
        self.locks = {n: threading.Lock() for n in self.insts}
        self.freeze_req = {n: 0 for n in self.insts}
        self.fds = {}
        for i in cfg["instances"]:
            if "ram" in i:
                self.fds[i["ram"]] = os.open(i["ram"], os.O_RDONLY)
        self.fds[cfg["shared"]["path"]] = os.open(cfg["shared"]["path"], os.O_RDONLY)
        self.dtbs = {}
        state = os.path.join(os.path.dirname(cfg["_path"]), "dt")
        with open(os.path.join(state, "pool.dtb"), "rb") as f:
            self.pool_dtb = f.read()
        for n in self.insts:
            with open(os.path.join(state, n + ".dtb"), "rb") as f:
                self.dtbs[n] = f.read()

    # --- QEMU
    def qemu_alive(self, inst):
        pid = inst.get("pid")
        if not pid:
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return ("mkdbg-" + inst["guest"]).encode() in f.read().split(b"\0")
        except OSError:
            return False

    def qmp(self, inst, command, args=None, timeout=3.0):
        with self.locks[inst["name"]]:
            path = inst["qmp"]
            q = QMP(path, timeout)
            try:
                return q.execute(command, args)
            finally:
                q.close()

    def run_state(self, inst):
        """QEMU's run state ('running', 'paused', 'guest-panicked', ...) or None if no guest."""
        if "ram" not in inst or not self.qemu_alive(inst):
            return None
        try:
            return self.qmp(inst, "query-status")["status"]
        except (OSError, QMPError, TimeoutError, ValueError, KeyError):
            return None if not self.qemu_alive(inst) else "unknown"

    @staticmethod
    def status_of(inst, rs):
        if "ram" not in inst:
            return "ready"
        if rs in ("running", "paused", "debug", "suspended", "io-error", "watchdog", "unknown",
                  "restore-vm", "save-vm", "finish-migrate", "postmigrate"):
            return "active"
        return "loaded"  # halted, panicked, QEMU gone: the kimage stays, memory survives

    def registers(self, inst):
        text = self.qmp(inst, "human-monitor-command", {"command-line": "info registers -a"}, timeout=5.0)
        return parse_registers(text)

    # --- kcore
    def segments(self, inst):
        if "ram" not in inst:
            return []
        sh = self.cfg["shared"]
        segs = [Segment(inst["guest_phys"], inst["bytes"], inst["ram"], 0)]
        for phys, size in (self.cfg["host_inbox"], inst["inbox"], inst["manifest"]):
            segs.append(Segment(phys, size, sh["path"], phys - sh["phys"]))
        segs.sort(key=lambda s: s.paddr)
        return segs

    def notes_room(self, inst):
        return 12 + 12 + 0x1000 + len(inst["cpus"]) * (12 + 8 + PRSTATUS_SIZE) + 64

    def kcore_shape(self, inst):
        segs = self.segments(inst)
        start, size = core_layout(segs, self.notes_room(inst))
        return segs, start, size

    def kcore_notes(self, inst, rs):
        blob = b""
        if "ram" not in inst:
            return blob
        phys = inst["vmcoreinfo"][0]
        fd = self.fds[inst["ram"]]
        descsz = elfread.vmcoreinfo_note_size(os.pread(fd, 24, phys), 0x1000)
        if descsz is not None:
            blob += os.pread(fd, 24 + ((descsz + 3) & ~3), phys)
        if rs == "paused":
            try:
                cpus = self.registers(inst)
            except (OSError, QMPError, TimeoutError, ValueError):
                cpus = []
            for regs in cpus[:len(inst["cpus"])]:
                blob += note("CORE", NT_PRSTATUS, prstatus(regs))
        return blob

    def read_segments(self, segs, off, size):
        out = bytearray(size)
        end = off + size
        for s in segs:
            a, b = max(off, s.offset), min(end, s.offset + s.size)
            if a >= b:
                continue
            data = os.pread(self.fds[s.path], b - a, s.file_off + (a - s.offset))
            out[a - off:a - off + len(data)] = data
        return bytes(out)


def serve(cfg_path):
    import pyfuse3
    import trio

    cfg = load_json(cfg_path)
    cfg["_path"] = cfg_path
    lab = Lab(cfg)
    mountpoint = os.path.join(cfg["root"], "sys", "fs", "multikernel")
    FUSEError = pyfuse3.FUSEError

    class Node:
        def __init__(self, ino, name, mode, parent, kind, inst=None):
            self.ino, self.name, self.mode, self.parent, self.kind, self.inst = ino, name, mode, parent, kind, inst
            self.children = {}

    nodes = {}

    def add(parent, name, mode, kind, inst=None):
        ino = pyfuse3.ROOT_INODE if parent is None else max(nodes) + 1
        n = Node(ino, name, mode, parent, kind, inst)
        nodes[ino] = n
        if parent is not None:
            nodes[parent].children[name.encode()] = n
        return ino

    D = stat.S_IFDIR
    F = stat.S_IFREG
    root = add(None, "", D | 0o755, "dir")
    add(root, "device_tree", F | 0o644, "pool_dt")
    add(root, "ipi_buffer", F | 0o444, "host_ipi")
    insts = add(root, "instances", D | 0o755, "dir")
    for inst in cfg["instances"]:
        d = add(insts, inst["name"], D | 0o755, "dir", inst)
        for name, mode, kind in (("id", 0o444, "id"), ("status", 0o444, "status"),
                                 ("device_tree", 0o444, "inst_dt"), ("kcore", 0o400, "kcore"),
                                 ("vmcoreinfo", 0o444, "vmcoreinfo"), ("freeze", 0o644, "freeze"),
                                 ("events", 0o444, "events"), ("ipi_buffer", 0o444, "ipi")):
            add(d, name, F | mode, kind, inst)
    ovl = add(root, "overlays", D | 0o755, "dir")
    add(ovl, "new", F | 0o200, "overlay_new")

    WRITABLE = {"pool_dt", "freeze", "overlay_new"}
    READABLE = lambda n: n.mode & 0o444 != 0  # noqa: E731
    t0 = time.time_ns()

    def size_of(n):
        if n.kind == "dir":
            return 0
        if n.kind == "kcore":
            return lab.kcore_shape(n.inst)[2]
        if n.kind == "pool_dt":
            return 1 << 20
        if n.kind in ("inst_dt", "overlay_new"):
            return 0
        return 4096

    def attrs(n):
        e = pyfuse3.EntryAttributes()
        e.st_ino = n.ino
        e.st_mode = n.mode
        e.st_nlink = 2 + sum(1 for c in n.children.values() if c.kind == "dir") if n.kind == "dir" else 1
        e.st_uid = e.st_gid = 0
        e.st_size = size_of(n)
        e.st_blksize = PAGE
        e.st_blocks = 0
        e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = t0
        e.entry_timeout = 1.0
        e.attr_timeout = 0.0
        return e

    def hexpair(a, b):
        return ("%x %x\n" % (a, b)).encode()

    def text_of(n):
        """Content of a small file, generated now (seq_file style: on a read at offset 0)."""
        inst = n.inst
        if n.kind == "pool_dt":
            return lab.pool_dtb
        if n.kind == "host_ipi":
            return hexpair(*cfg["host_inbox"])
        if n.kind == "id":
            return b"%d\n" % inst["id"]
        if n.kind == "inst_dt":
            return lab.dtbs[inst["name"]]
        if n.kind == "status":
            return (Lab.status_of(inst, lab.run_state(inst)) + "\n").encode()
        if n.kind == "vmcoreinfo":
            return hexpair(*inst["vmcoreinfo"]) if "vmcoreinfo" in inst else b"0 0\n"
        if n.kind == "freeze":
            return b"%d\n" % lab.freeze_req[inst["name"]]
        if n.kind == "events":
            return b"frozen %d\n" % (1 if lab.run_state(inst) == "paused" else 0)
        if n.kind == "ipi":
            return hexpair(*inst["inbox"]) if "inbox" in inst else b"0 0\n"
        raise FUSEError(errno.EIO)

    class Handle:
        def __init__(self, node):
            self.node, self.data, self.kcore = node, None, None

    handles = {}
    next_fh = [1]

    def guard(fn):
        async def wrapped(self, *args):
            try:
                return await fn(self, *args)
            except FUSEError:
                raise
            except Exception:  # never let a handler take the file system down
                log("error in %s%r:\n%s" % (fn.__name__, args[:2], traceback.format_exc()))
                raise FUSEError(errno.EIO)
        wrapped.__name__ = fn.__name__
        return wrapped

    def node_of(ino):
        n = nodes.get(ino)
        if n is None:
            raise FUSEError(errno.ENOENT)
        return n

    class Ops(pyfuse3.Operations):
        enable_writeback_cache = False

        @guard
        async def lookup(self, parent_inode, name, ctx=None):
            p = node_of(parent_inode)
            if name == b".":
                return attrs(p)
            if name == b"..":
                return attrs(nodes[p.parent] if p.parent else p)
            c = p.children.get(name)
            if c is None:
                raise FUSEError(errno.ENOENT)
            return attrs(c)

        @guard
        async def getattr(self, inode, ctx=None):
            return attrs(node_of(inode))

        @guard
        async def setattr(self, inode, attr, fields, fh, ctx):
            n = node_of(inode)
            if fields.update_mode or fields.update_uid or fields.update_gid:
                raise FUSEError(errno.EPERM)
            if fields.update_size and n.kind not in WRITABLE:
                raise FUSEError(errno.EACCES)
            return attrs(n)  # truncation of a writable attribute file is a no-op (kernfs)

        @guard
        async def opendir(self, inode, ctx):
            n = node_of(inode)
            if n.kind != "dir":
                raise FUSEError(errno.ENOTDIR)
            return inode

        @guard
        async def readdir(self, fh, start_id, token):
            n = node_of(fh)
            kids = list(n.children.values())
            for i in range(start_id, len(kids)):
                if not pyfuse3.readdir_reply(token, kids[i].name.encode(), attrs(kids[i]), i + 1):
                    break

        async def releasedir(self, fh):
            pass

        @guard
        async def open(self, inode, flags, ctx):
            n = node_of(inode)
            if n.kind == "dir":
                raise FUSEError(errno.EISDIR)
            acc = flags & os.O_ACCMODE
            if acc in (os.O_WRONLY, os.O_RDWR) and n.kind not in WRITABLE:
                raise FUSEError(errno.EACCES)
            if acc in (os.O_RDONLY, os.O_RDWR) and not READABLE(n):
                raise FUSEError(errno.EACCES)
            fh = next_fh[0]
            next_fh[0] += 1
            handles[fh] = Handle(n)
            fi = pyfuse3.FileInfo(fh=fh)
            fi.direct_io = True   # live content: never the page cache
            fi.keep_cache = False
            return fi

        @guard
        async def read(self, fh, off, size):
            h = handles.get(fh)
            if h is None:
                raise FUSEError(errno.EBADF)
            n = h.node
            if n.kind == "kcore":
                return await trio.to_thread.run_sync(read_kcore, h, off, size)
            if h.data is None or off == 0:
                h.data = await trio.to_thread.run_sync(text_of, n)
            return h.data[off:off + size]

        @guard
        async def write(self, fh, off, buf):
            h = handles.get(fh)
            if h is None:
                raise FUSEError(errno.EBADF)
            n = h.node
            if n.kind == "freeze":
                return await trio.to_thread.run_sync(write_freeze, n.inst, buf)
            if n.kind == "pool_dt":
                if len(buf) < 40 or buf[:4] != b"\xd0\x0d\xfe\xed" or struct.unpack_from(">I", buf, 4)[0] != len(buf):
                    raise FUSEError(errno.EINVAL)
                raise FUSEError(errno.EBUSY)  # the baseline is applied
            if n.kind == "overlay_new":
                if off != 0 or len(buf) < 40 or buf[:4] != b"\xd0\x0d\xfe\xed":
                    raise FUSEError(errno.EINVAL)
                raise FUSEError(errno.EPERM)  # the lab's tree is read-only
            raise FUSEError(errno.EACCES)

        async def flush(self, fh):
            pass

        async def release(self, fh):
            handles.pop(fh, None)

        @guard
        async def statfs(self, ctx):
            s = pyfuse3.StatvfsData()
            s.f_bsize = s.f_frsize = PAGE
            s.f_blocks = s.f_bfree = s.f_bavail = 0
            s.f_files = len(nodes)
            s.f_ffree = s.f_favail = 0
            s.f_namemax = 255
            return s

        async def mkdir(self, parent_inode, name, mode, ctx):
            raise FUSEError(errno.EPERM)

        async def rmdir(self, parent_inode, name, ctx):
            raise FUSEError(errno.EPERM)

        async def unlink(self, parent_inode, name, ctx):
            raise FUSEError(errno.EPERM)

        async def create(self, parent_inode, name, mode, flags, ctx):
            raise FUSEError(errno.EPERM)

        async def mknod(self, parent_inode, name, mode, rdev, ctx):
            raise FUSEError(errno.EPERM)

        async def symlink(self, parent_inode, name, target, ctx):
            raise FUSEError(errno.EPERM)

        async def link(self, inode, new_parent_inode, new_name, ctx):
            raise FUSEError(errno.EPERM)

        async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
            raise FUSEError(errno.EPERM)

        async def setxattr(self, inode, name, value, ctx):
            raise FUSEError(errno.ENOTSUP)

        async def getxattr(self, inode, name, ctx):
            raise FUSEError(pyfuse3.ENOATTR)

        async def listxattr(self, inode, ctx):
            return []

    def read_kcore(h, off, size):
        inst = h.node.inst
        if h.kcore is None or off == 0:
            segs, start, total = lab.kcore_shape(inst)
            rs = lab.run_state(inst)
            head = core_headers(segs, lab.kcore_notes(inst, rs))
            h.kcore = (segs, start, total, head)
        segs, start, total, head = h.kcore
        if off >= total:
            return b""
        size = min(size, total - off)
        out = bytearray(size)
        if off < start:
            chunk = head[off:min(off + size, start)]
            out[:len(chunk)] = chunk
        if off + size > start:
            a = max(off, start)
            out[a - off:] = lab.read_segments(segs, a, off + size - a)
        return bytes(out)

    def write_freeze(inst, buf):
        try:
            val = buf.decode().strip()
        except UnicodeDecodeError:
            raise FUSEError(errno.EINVAL)
        if val not in ("0", "1"):
            raise FUSEError(errno.EINVAL)
        rs = lab.run_state(inst)
        if Lab.status_of(inst, rs) != "active":
            raise FUSEError(errno.EINVAL)
        try:
            lab.qmp(inst, "stop" if val == "1" else "cont")
        except (OSError, QMPError, TimeoutError, ValueError) as e:
            log("freeze %s: %s" % (inst["name"], e))
            raise FUSEError(errno.EIO)
        lab.freeze_req[inst["name"]] = int(val)
        return len(buf)

    opts = set(pyfuse3.default_options)
    opts |= {"fsname=mkdbg-mk", "subtype=multikernel"}
    os.makedirs(mountpoint, exist_ok=True)
    pyfuse3.init(Ops(), mountpoint, opts)
    ready = os.path.join(os.path.dirname(cfg_path), "server.ready")
    with open(ready, "w") as f:
        f.write("%d %s\n" % (os.getpid(), mountpoint))
    log("serving %s (pid %d)" % (mountpoint, os.getpid()))

    async def main():
        async with trio.open_nursery() as nursery:
            async def signals():
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as rx:
                    async for signum in rx:
                        log("signal %d: unmounting" % signum)
                        pyfuse3.terminate()
                        return
            nursery.start_soon(signals)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        pyfuse3.close(unmount=True)
        try:
            os.unlink(ready)
        except OSError:
            pass
        log("unmounted %s" % mountpoint)


# ------------------------------------------------------------------ today's-upstream fixture

DIRECT_MAP = 0xffff9d3f00000000   # a KASLR-style page_offset_base (1 GiB aligned, not the default)
HOST_TEXT = (0xffffffffa6000000, 0x2a000000, 0x1200000)   # vaddr, paddr, size of the host's text
HOST_VMALLOC = (0xffffb5a8c0000000, 0x40000000)           # one vmalloc range, p_paddr = -1
HOST_RELEASE = "6.19.0-mk-host"


def fallback_iomem(host_base, inst):
    """A host whose pool holds one instance region at host_base (the spawn's own addresses)."""
    end = host_base + inst["bytes"] - 1
    rows = []
    if host_base == 0:
        rows = [(0, 0x00000000, end, "System RAM"),
                (1, 0x00000000, end, "Multikernel Memory Pool"),
                (2, 0x00000000, end, "mk-instance-%d-%s-region-0" % (inst["id"], inst["name"])),
                (0, end + 1, 0x7ffdffff, "System RAM"),
                (1, 0x2a000000, 0x2b1fffff, "Kernel code"),
                (1, 0x2b200000, 0x2bbfffff, "Kernel rodata"),
                (1, 0x2bc00000, 0x2bf3ffff, "Kernel data"),
                (1, 0x2c3b0000, 0x2c5fffff, "Kernel bss")]
        rows += [r for r in HOST_IOMEM_LOW if r[1] >= 0x7ffe0000]
        rows.append((0, HOST_RAM_HIGH[0], HOST_RAM_HIGH[1], "System RAM"))
    else:
        rows = list(HOST_IOMEM_LOW) + [(0, HOST_RAM_HIGH[0], HOST_RAM_HIGH[1], "System RAM"),
                                       (1, host_base, end, "Multikernel Memory Pool"),
                                       (2, host_base, end, "mk-instance-%d-%s-region-0" % (inst["id"], inst["name"]))]
    return rows


def cmd_fallback(outdir, cfg_path, name="web", host_base=0, direct_map=DIRECT_MAP, crash_notes=False):
    cfg = load_json(cfg_path)
    inst = dict(next(i for i in cfg["instances"] if i["name"] == name))
    if "ram" not in inst:
        raise SystemExit("mklab: instance %s has no guest" % name)
    if host_base % PAGE:
        raise SystemExit("mklab: --host-base must be page aligned")
    inst["host_phys"] = host_base
    rows = fallback_iomem(host_base, inst)
    ram_ranges = [(a, b + 1 - a) for d, a, b, n in rows if d == 0 and n == "System RAM"]
    os.makedirs(outdir, exist_ok=True)
    outdir = os.path.abspath(outdir)
    for sub in ("proc", "sys/fs/multikernel/instances/" + name, "sys/fs/multikernel/overlays"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)

    # Stop the guest so the copy is one consistent snapshot; registers for the record.
    was = None
    q = QMP(os.path.join(inst["run"], "qmp.sock"), 10.0)
    try:
        was = q.execute("query-status")["status"]
        if was == "running":
            q.execute("stop")
        regs_text = q.execute("human-monitor-command", {"command-line": "info registers -a"})
        vmci = vmcoreinfo_text(inst["ram"], inst["vmcoreinfo"][0])
        kcore = os.path.join(outdir, "proc", "kcore")
        # --crash-notes: the instance halted while a backup with a vmcore host tree ran, so each
        # stopping CPU saved its registers as crash notes (upstream mk_crash_notes_wanted());
        # written into the copy only, never into the guest.
        patches, note_phys = [], []
        if crash_notes:
            note_phys = crash_note_addresses(inst, vmcoreinfo_kv(vmci))
            cpus = parse_registers(regs_text)
            for cpu, phys in enumerate(note_phys[:len(cpus)]):
                patches.append((phys, crash_notes_blob(cpus[cpu])))
        write_host_kcore(kcore, inst, ram_ranges, direct_map, host_base, patches)
    finally:
        try:
            if was == "running":
                q.execute("cont")
        finally:
            q.close()

    # iomem, kimage, kernfs files (today's upstream: id, status, device_tree; no debug files)
    write_file(os.path.join(outdir, "proc", "iomem"),
               "".join("%s%08x-%08x : %s\n" % ("  " * d, a, b, n) for d, a, b, n in rows), 0o444)
    kcfg = {"instances": [inst]}
    write_file(os.path.join(outdir, "proc", "kimage"), kimage_text(kcfg), 0o444)
    fcfg = dict(cfg)
    fcfg["instances"] = [inst]
    fcfg["pool_chunks"] = [[host_base, inst["bytes"]]]
    mk = os.path.join(outdir, "sys", "fs", "multikernel")
    write_file(os.path.join(mk, "device_tree"), dtc(pool_dts(fcfg)), 0o644)
    write_file(os.path.join(mk, "instances", name, "id"), "%d\n" % inst["id"], 0o444)
    write_file(os.path.join(mk, "instances", name, "status"), "loaded\n" if crash_notes else "active\n", 0o444)
    write_file(os.path.join(mk, "instances", name, "device_tree"), dtc(instance_dts(inst)), 0o444)
    write_file(os.path.join(mk, "overlays", "new"), b"", 0o200)
    with open(os.path.join(outdir, "registers.txt"), "w") as f:
        f.write(regs_text)
    kv = vmcoreinfo_kv(vmci)
    facts = {
        "instance": name, "id": inst["id"], "release": inst["release"], "build_id": inst["build_id"],
        "vmlinux": inst["vmlinux"], "marker": inst["marker"], "token": inst["token"],
        "processes": inst["processes"], "pids": inst["pids"], "cmdline": inst["cmdline"],
        "direct_map_base": direct_map, "region": [host_base, inst["bytes"]],
        "spawn_phys_to_host_phys": host_base - inst["guest_phys"],
        "vmcoreinfo_spawn_phys": inst["vmcoreinfo"][0],
        "vmcoreinfo_host_phys": host_base + inst["vmcoreinfo"][0],
        "kernel_offset": int(kv.get("KERNELOFFSET", "0"), 16),
        "phys_base": int(kv.get("NUMBER(phys_base)", "0")),
        "host_release": HOST_RELEASE, "state_when_copied": was,
        "crash_notes": [{"cpu": c, "spawn_phys": p, "rip": parse_registers(regs_text)[c].get("rip"),
                         "rsp": parse_registers(regs_text)[c].get("rsp")} for c, p in enumerate(note_phys)
                        if c < len(patches)],
        "files": {"kcore": "proc/kcore", "iomem": "proc/iomem", "kimage": "proc/kimage",
                  "kernfs": "sys/fs/multikernel", "registers": "registers.txt"},
    }
    with open(os.path.join(outdir, "lab.json"), "w") as f:
        json.dump(facts, f, indent=2, sort_keys=True)
        f.write("\n")
    return outdir


def write_host_kcore(path, inst, ram_ranges, direct_map, host_base, patches=()):
    """A /proc/kcore look-alike: host notes, kernel text, one vmalloc range, the direct map of
    every System RAM range; the instance region holds the guest's RAM, the rest is zeros."""
    segs = []
    segs.append(Segment(HOST_TEXT[1], HOST_TEXT[2], None, 0, vaddr=HOST_TEXT[0]))
    segs.append(Segment(None, HOST_VMALLOC[1], None, 0, vaddr=HOST_VMALLOC[0]))
    for a, size in ram_ranges:
        segs.append(Segment(a, size, None, 0, vaddr=direct_map + a))
    host_info = ("OSRELEASE=%s\nBUILD-ID=%s\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffffa7a13440\n"
                 "NUMBER(phys_base)=%d\nSYMBOL(init_top_pgt)=ffffffffa7c0a000\nNUMBER(pgtable_l5_enabled)=0\n"
                 "KERNELOFFSET=25000000\n" % (HOST_RELEASE, "0" * 40, HOST_TEXT[1] - 0x1000000))
    prps = bytearray(136)
    prps[0], prps[1] = 0, ord("R")
    prps[40:40 + 7] = b"vmlinux"
    args = b"BOOT_IMAGE=/vmlinuz-%s root=/dev/vda ro" % HOST_RELEASE.encode()
    prps[56:56 + min(79, len(args))] = args[:79]
    notes = note("CORE", NT_PRSTATUS, bytes(PRSTATUS_SIZE)) + note("CORE", NT_PRPSINFO, bytes(prps)) \
        + note("VMCOREINFO", 0, host_info.encode())
    start, total = core_layout(segs, len(notes))
    head = core_headers(segs, notes, paddr_of=lambda s: 0xffffffffffffffff if s.paddr is None else s.paddr)
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.truncate(total)
        out.write(head)
        region = next(s for s in segs if s.paddr is not None and s.vaddr >= direct_map
                      and s.paddr <= host_base < s.paddr + s.size)
        base_off = region.offset + (host_base - region.paddr)
        zero = bytes(PAGE)
        chunk = 1 << 20
        with open(inst["ram"], "rb") as ram:
            pos = inst["guest_phys"]
            end = pos + inst["bytes"]
            while pos < end:
                data = ram.read(min(chunk, end - pos))
                if not data:
                    break
                for i in range(0, len(data), PAGE):
                    page = data[i:i + PAGE]
                    if page != zero[:len(page)]:
                        os.pwrite(out.fileno(), page, base_off + pos - inst["guest_phys"] + i)
                pos += len(data)
        for phys, data in patches:  # (spawn-physical, bytes) written over the copy
            os.pwrite(out.fileno(), data, base_off + phys - inst["guest_phys"])
    os.chmod(tmp, 0o400)
    os.replace(tmp, path)


# ------------------------------------------------------------------ main


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "config":
        cmd_config(args[0], args[1], args[2], args[3:])
    elif cmd == "prepare":
        cmd_prepare(args[0])
    elif cmd == "serve":
        serve(os.path.abspath(args[0]))
    elif cmd == "fallback":
        opts = {"name": "web", "host_base": 0, "direct_map": DIRECT_MAP}
        rest = []
        i = 0
        while i < len(args):
            if args[i] == "--instance":
                opts["name"] = args[i + 1]
                i += 2
            elif args[i] == "--host-base":
                opts["host_base"] = int(args[i + 1], 16)
                i += 2
            elif args[i] == "--direct-map":
                opts["direct_map"] = int(args[i + 1], 16)
                i += 2
            elif args[i] == "--crash-notes":
                opts["crash_notes"] = True
                i += 1
            else:
                rest.append(args[i])
                i += 1
        if len(rest) != 2:
            sys.stderr.write(__doc__)
            return 2
        print(cmd_fallback(rest[0], rest[1], **opts))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
