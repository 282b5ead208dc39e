"""An arm64 instance of the lab multikernel (mklab.py arm64, scripts/lab mk-arm64): a kernfs
fixture directory whose one instance, `arm`, is the real cloud-arm64 kernel of the lab's running
arm64 dump (scripts/lab fixtures --arch arm64). Its `kcore` is the debug interface's
(EM_AARCH64, the VMCOREINFO note copied from the guest's RAM, physical PT_LOADs for its RAM and
the shared pages), and the inbox rings in those shared pages hold what the lab's traffic
(mk_traffic.py) produced and consumed there, recorded in traffic.json.

The made-up host is an arm64 machine (QEMU virt-like) on which a spawn runs on host-physical
memory, as upstream: host-physical = spawn-physical, so the region sits where the guest's RAM
was (0x40000000). No CPU runs the kernel (it is a snapshot), so the instance is `loaded`; it has
no freeze or events file."""

import json
import os
import struct

import elfread
from mk_core import EM_AARCH64, NT_PRPSINFO, NT_PRSTATUS, PT_LOAD, Segment, core_headers, core_layout, note
from mk_devicetree import boot_chosen, dtc, instance_dts, pool_dts
from mk_layout import INBOX_SIZE, MANIFEST_SIZE, PAGE, SHARED_PHYS, SHARED_SIZE, inbox_phys, manifest_phys, write_file
from mk_proc import vmcoreinfo_kv

NAME, ID = "arm", 1
HOST_CPUS = list(range(8))                # MPIDR Aff0; the host keeps 0-1, the pool has 2-7 (arm: 2-3)
HOST_OWN_CPUS = [0, 1]
HOST_RAM = (0x40000000, 0x1bfffffff)     # 6 GiB from 1 GiB, as QEMU virt places RAM
POOL_CHUNK = (0x40000000, 0x40000000)    # 1 GiB: the arm instance's 512 MiB and a free half
POOL_PARK = (0x7fff8000, 0x8000)         # the pool park set at the top of the pool chunk
POOL_SLOT = 0x7ffff000
HOST_KERNEL = [(0x100010000, 0x10120ffff, "Kernel code"), (0x101210000, 0x1015fffff, "Kernel data")]
SEED = 1                                 # of the traffic
STEPS = 100                              # per ring, as the live lab's warm-up
FORMAT = 3                               # of this directory; a change rebuilds it
# Today's-upstream variant (--fallback): the host's /proc/kcore as arm64's fs/proc/kcore.c
# writes it (virtual PT_LOADs: the kernel image, vmalloc with p_paddr -1, the linear map of each
# System RAM range), with a made-up arm64 host's own VMCOREINFO (48-bit VA, a randomized linear map).
HOST_RELEASE = "6.19.0-mk-host"
HOST_PAGE_OFFSET = 0xffff000000000000
HOST_LINEAR = 0xffff3a2c00000000         # linear-map address of physical 0: PAGE_OFFSET - memstart_addr
HOST_TEXT = (0xffffbb5e24210000, 0x100010000, 0x1200000)   # _text, its physical address, size
HOST_VMALLOC = (0xffff800008000000, 0x40000000)
HOST_KASLR = 0x3b5e1c200000
PRSTATUS_ARM64 = 392                     # sizeof(struct elf_prstatus) on arm64


def iomem_rows(inst):
    region = (inst["host_phys"], inst["host_phys"] + inst["bytes"] - 1)
    return [(0, 0x08000000, 0x0800ffff, "GICD"),
            (0, 0x09000000, 0x09000fff, "9000000.pl011 pl011@9000000"),
            (0, HOST_RAM[0], HOST_RAM[1], "System RAM"),
            (1, POOL_CHUNK[0], POOL_CHUNK[0] + POOL_CHUNK[1] - 1, "Multikernel Memory Pool"),
            (2, region[0], region[1], "mk-instance-%d-%s-region-0" % (inst["id"], inst["name"]))] + \
        [(1, a, b, n) for a, b, n in HOST_KERNEL]


def kimage_line(inst, kv, loads):
    """/proc/kimage: the start is the host-physical _stext (arm64: virtual - kimage_voffset)."""
    stext = int(kv["SYMBOL(_stext)"], 16) - int(kv["NUMBER(kimage_voffset)"], 16)
    return ("MK_ID  Type        Start Address   Segments  Mode  Cmdline\n"
            "-----  ----------  --------------  --------  ----  -------\n"
            "%5d  %-10s  0x%012x  %8d  %-4s  \"%s\"\n" % (inst["id"], "multikernel", stext, loads + 1, "file", inst["cmdline"]))


def ram_segment(dump):
    """(phys, size, file offset) of the dump's one RAM PT_LOAD."""
    with open(dump, "rb") as f:
        loads = [ph for ph in elfread.program_headers(f) if ph.type == PT_LOAD]
    if len(loads) != 1 or loads[0].filesz != loads[0].memsz:
        raise SystemExit("mklab: %s: expected one PT_LOAD with p_filesz == p_memsz, found %d" % (dump, len(loads)))
    ph = loads[0]
    return ph.paddr, ph.filesz, ph.offset


def vmcoreinfo_note(dump, seg, phys):
    """The VMCOREINFO note the guest keeps in its RAM, whole (header, name, text)."""
    base, size, off = seg
    if not base <= phys < base + size:
        raise SystemExit("mklab: VMCOREINFO at %#x is outside the dump's RAM" % phys)
    with open(dump, "rb") as f:
        f.seek(off + phys - base)
        head = f.read(24)
        descsz = elfread.vmcoreinfo_note_size(head, 0x10000)
        if descsz is None:
            raise SystemExit("mklab: %s: no VMCOREINFO note at physical %#x" % (dump, phys))
        return head + f.read(((descsz + 3) & ~3))


def config(outdir, facts, seg):
    inst = {"name": NAME, "id": ID, "cpus": [2, 3], "host_phys": seg[0], "guest_phys": seg[0], "bytes": seg[1],
            "inbox": [inbox_phys(ID), INBOX_SIZE], "manifest": [manifest_phys(ID), MANIFEST_SIZE],
            "arch": "arm64", "cmdline": facts["cmdline"], "release": facts["release"], "build_id": facts["build_id"],
            "marker": facts["marker"], "token": facts["token"], "processes": facts["processes"], "pids": facts["pids"],
            "vmcoreinfo": [facts["vmcoreinfo_phys"], facts["vmcoreinfo_size"]]}
    return {"format": "mkdbg-lab-arm64-instance", "version": FORMAT, "root": outdir,
            "shared": {"path": os.path.join(outdir, "shared.ram"), "phys": SHARED_PHYS, "size": SHARED_SIZE},
            "host_cpus": HOST_CPUS, "host_own_cpus": HOST_OWN_CPUS, "pool_chunks": [list(POOL_CHUNK)],
            "host_inbox": [inbox_phys(0), INBOX_SIZE], "pool_slot": POOL_SLOT, "pool_park": list(POOL_PARK),
            "instances": [inst]}


def up_to_date(outdir, facts, fixture, fallback, crash_notes):
    try:
        with open(os.path.join(outdir, "lab.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    inst = (old.get("instances") or [{}])[0]
    return (old.get("version") == FORMAT and old.get("seed") == SEED and inst.get("token") == facts["token"]
            and old.get("fixture") == os.path.abspath(fixture) and old.get("fallback", False) == fallback
            and bool(old.get("crash_notes")) == crash_notes
            and inst.get("build_id") == facts["build_id"]
            and os.path.exists(os.path.join(outdir, "proc/kcore" if fallback else
                                            os.path.join("sys/fs/multikernel/instances", NAME, "kcore")))
            and os.path.exists(os.path.join(outdir, "traffic.json")))


def write_kcore(path, dump, seg, note_blob, shared_path, cfg):
    """The debug interface's kcore: PT_NOTE (VMCOREINFO), then PT_LOADs by p_paddr (RAM copied
    sparse from the dump, zero pages skipped; the host's inbox, the instance's, its manifest)."""
    inst = cfg["instances"][0]
    segs = [Segment(seg[0], seg[1], dump, seg[2])]
    for phys, size in (cfg["host_inbox"], inst["inbox"], inst["manifest"]):
        segs.append(Segment(phys, size, shared_path, phys - SHARED_PHYS))
    segs.sort(key=lambda s: s.paddr)
    _, total = core_layout(segs, 0x2000)
    head = core_headers(segs, note_blob, machine=EM_AARCH64)
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.truncate(total)
        out.write(head)
        for s in segs:
            copy_sparse(s.path, s.file_off, s.size, out.fileno(), s.offset)
    os.chmod(tmp, 0o400)
    os.replace(tmp, path)


def copy_sparse(src_path, src_off, size, out_fd, out_off):
    """size bytes of src_path at src_off to out_fd at out_off, leaving zero pages as holes."""
    zero = bytes(PAGE)
    chunk = 1 << 20
    with open(src_path, "rb") as src:
        src.seek(src_off)
        done = 0
        while done < size:
            data = src.read(min(chunk, size - done))
            if not data:
                raise SystemExit("mklab: %s ends before %#x bytes from %#x" % (src_path, size, src_off))
            if data.count(0) != len(data):
                for i in range(0, len(data), PAGE):
                    page = data[i:i + PAGE]
                    if page != zero[:len(page)]:
                        os.pwrite(out_fd, page, out_off + done + i)
            done += len(data)


def run_traffic(cfg_path):
    """STEPS steps of the lab's traffic on every ring, then its state file: traffic.json."""
    import mk_traffic
    sh = mk_traffic.Shared(cfg_path, write=True)
    tr = mk_traffic.Traffic(sh, SEED)
    for _ in range(STEPS):
        for r in sh.rings:
            tr.step(r)
    state = mk_traffic.snapshot(sh, "status")
    state.update({"state": "stopped", "seed": SEED, "pid": None, "time": None})
    mk_traffic.write_json(sh.file("json"), state)
    sh.mm.flush()
    sh.mm.close()
    os.close(sh.fd)
    return state


def host_vmcoreinfo():
    kv = [("OSRELEASE", HOST_RELEASE), ("BUILD-ID", "0" * 40), ("PAGESIZE", "4096"),
          ("SYMBOL(swapper_pg_dir)", "%x" % (HOST_TEXT[0] + 0x10f0000)),
          ("SYMBOL(_stext)", "%x" % HOST_TEXT[0]), ("NUMBER(VA_BITS)", "48"),
          ("NUMBER(MODULES_END)", "0xffff800008000000"),
          ("NUMBER(kimage_voffset)", "0x%x" % ((HOST_TEXT[0] - HOST_TEXT[1]) & 0xffffffffffffffff)),
          ("NUMBER(PHYS_OFFSET)", "0x%x" % ((HOST_PAGE_OFFSET - HOST_LINEAR) & 0xffffffffffffffff)),
          ("NUMBER(TCR_EL1_T1SZ)", "0x10"), ("KERNELOFFSET", "%x" % HOST_KASLR), ("NUMBER(KERNELPACMASK)", "0x0")]
    return "".join("%s=%s\n" % p for p in kv)


def crash_notes_patches(dump, seg, kv, vmlinux):
    """(physical, bytes) of what each CPU's crash_notes buffer holds after crash_save_cpu(): the
    CPU's CORE/NT_PRSTATUS note (the dump's, as QEMU saved the stopped vCPU) and the empty final
    note. The buffer is the crash_notes per-CPU pointer plus __per_cpu_offset[cpu], in the
    linear map; the variables are read from the guest's RAM through the image map."""
    from mk_fallback import vmlinux_symbols
    syms = vmlinux_symbols(vmlinux, ["crash_notes", "__per_cpu_offset", "nr_cpu_ids"])
    mask = 0xffffffffffffffff
    koff, voff = int(kv["KERNELOFFSET"], 16), int(kv["NUMBER(kimage_voffset)"], 16)
    phys_offset, va_bits = int(kv["NUMBER(PHYS_OFFSET)"], 16), int(kv["NUMBER(VA_BITS)"])
    page_offset = (-(1 << va_bits)) & mask
    base, size, off = seg
    with open(dump, "rb") as f:
        def read(pa, fmt):
            if not base <= pa < base + size:
                raise SystemExit("mklab: physical %#x is outside the dump's RAM" % pa)
            f.seek(off + pa - base)
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def image(sym, fmt, index=0):
            return read((syms[sym] + koff - voff + index * struct.calcsize(fmt)) & mask, fmt)
        ncpu, notes = image("nr_cpu_ids", "<I"), image("crash_notes", "<Q")
        if not 1 <= ncpu <= 64 or notes == 0:
            raise SystemExit("mklab: nr_cpu_ids %d, crash_notes %#x: no crash notes to fill" % (ncpu, notes))
        with open(dump, "rb") as g:
            saved = [desc for name, t, desc in core_notes(g) if name == "CORE" and t == NT_PRSTATUS]
        out = []
        for cpu in range(min(ncpu, len(saved))):
            va = (notes + image("__per_cpu_offset", "<Q", cpu)) & mask
            pa = (va - page_offset + phys_offset) & mask
            if not page_offset <= va < page_offset + (1 << (va_bits - 1)) or not base <= pa < base + size:
                raise SystemExit("mklab: CPU %d's crash notes at %#x are outside the linear map of RAM" % (cpu, va))
            out.append((pa, note("CORE", NT_PRSTATUS, saved[cpu]) + bytes(12)))
        return out


def core_notes(f):
    """(name, type, desc) of every note in an ELF core's PT_NOTE segments."""
    for ph in elfread.program_headers(f):
        if ph.type == elfread.PT_NOTE:
            f.seek(ph.offset)
            yield from elfread.notes(f.read(ph.filesz))


def write_host_kcore(path, dump, seg, shared_path, patches=()):
    """The host's /proc/kcore: notes (CORE prstatus and prpsinfo, the host's VMCOREINFO), its
    kernel image, one vmalloc range (p_paddr -1) and the linear map of the host's RAM, where only
    the spawn's region (the dump's RAM) and the shared pages hold data."""
    text = Segment(HOST_TEXT[1], HOST_TEXT[2], None, 0, vaddr=HOST_TEXT[0])
    vmalloc = Segment(None, HOST_VMALLOC[1], None, 0, vaddr=HOST_VMALLOC[0])
    ram = Segment(HOST_RAM[0], HOST_RAM[1] + 1 - HOST_RAM[0], None, 0, vaddr=HOST_LINEAR + HOST_RAM[0])
    segs = [text, vmalloc, ram]
    prps = bytearray(136)
    prps[1] = ord("R")
    prps[40:47] = b"vmlinux"
    notes = note("CORE", NT_PRSTATUS, bytes(PRSTATUS_ARM64)) + note("CORE", NT_PRPSINFO, bytes(prps)) \
        + note("VMCOREINFO", 0, host_vmcoreinfo().encode())
    _, total = core_layout(segs, len(notes))
    head = core_headers(segs, notes, paddr_of=lambda s: 0xffffffffffffffff if s.paddr is None else s.paddr,
                        machine=EM_AARCH64)
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.truncate(total)
        out.write(head)
        copy_sparse(dump, seg[2], seg[1], out.fileno(), ram.offset + seg[0] - ram.paddr)
        copy_sparse(shared_path, 0, SHARED_SIZE, out.fileno(), ram.offset + SHARED_PHYS - ram.paddr)
        for phys, data in patches:  # written over the copy only
            os.pwrite(out.fileno(), data, ram.offset + phys - ram.paddr)
    os.chmod(tmp, 0o400)
    os.replace(tmp, path)


def vmlinux_path(facts):
    """The dump's vmlinux: where facts.json says, else this checkout's symbol store by build-id."""
    if os.path.exists(facts.get("vmlinux", "")):
        return facts["vmlinux"]
    bid = facts["build_id"]
    store = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "symbols")
    return os.path.join(store, ".build-id", bid[:2], bid[2:] + ".debug")


def cmd_arm64(outdir, fixture, fallback=False, crash_notes=False):
    outdir = os.path.abspath(outdir)
    dump = os.path.join(fixture, "vmcore.elf")
    with open(os.path.join(fixture, "facts.json")) as f:
        facts = json.load(f)
    if facts.get("arch") != "arm64" or facts.get("state") != "running":
        raise SystemExit("mklab: %s is not the running arm64 fixture (scripts/lab fixtures --arch arm64)" % fixture)
    if crash_notes and not fallback:
        raise SystemExit("mklab: --crash-notes goes with --fallback (crash notes are today's upstream's registers)")
    if up_to_date(outdir, facts, fixture, fallback, crash_notes):
        return outdir
    seg = ram_segment(dump)
    cfg = config(outdir, facts, seg)
    inst = cfg["instances"][0]
    for sub in ("proc", "sys/fs/multikernel/instances/" + NAME, "sys/fs/multikernel/overlays"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    for stale in ("lab.json", "traffic.json"):
        if os.path.exists(os.path.join(outdir, stale)):
            os.unlink(os.path.join(outdir, stale))

    # the shared pages: boot manifest, then the rings as the traffic leaves them
    shared = cfg["shared"]["path"]
    with open(shared, "wb") as f:
        f.truncate(SHARED_SIZE)
        boot = dtc(instance_dts(inst, boot_chosen(cfg, inst)))
        f.seek(inst["manifest"][0] - SHARED_PHYS)
        f.write(boot)
    cfg_path = os.path.join(outdir, "traffic-config.json")
    write_file(cfg_path, json.dumps(cfg, indent=2) + "\n")
    run_traffic(cfg_path)

    note_blob = vmcoreinfo_note(dump, seg, inst["vmcoreinfo"][0])
    kv = vmcoreinfo_kv(note_blob[24:].rstrip(b"\0").decode(errors="replace"))
    mk = os.path.join(outdir, "sys", "fs", "multikernel")
    d = os.path.join(mk, "instances", NAME)
    vmlinux = vmlinux_path(facts)
    patches = crash_notes_patches(dump, seg, kv, vmlinux) if crash_notes else []
    if fallback:  # today's upstream: no debug files; the host's /proc/kcore instead
        write_host_kcore(os.path.join(outdir, "proc", "kcore"), dump, seg, shared, patches)
    else:
        write_kcore(os.path.join(d, "kcore"), dump, seg, note_blob, shared, cfg)
        write_file(os.path.join(d, "vmcoreinfo"), "%x %x\n" % tuple(inst["vmcoreinfo"]), 0o444)
        write_file(os.path.join(d, "ipi_buffer"), "%x %x\n" % tuple(inst["inbox"]), 0o444)
        write_file(os.path.join(mk, "ipi_buffer"), "%x %x\n" % tuple(cfg["host_inbox"]), 0o444)
    write_file(os.path.join(d, "id"), "%d\n" % ID, 0o444)
    write_file(os.path.join(d, "status"), "loaded\n", 0o444)
    write_file(os.path.join(d, "device_tree"), dtc(instance_dts(inst)), 0o444)
    write_file(os.path.join(mk, "device_tree"), dtc(pool_dts(cfg)), 0o644)
    write_file(os.path.join(mk, "overlays", "new"), b"", 0o200)
    write_file(os.path.join(outdir, "proc", "iomem"),
               "".join("%s%08x-%08x : %s\n" % ("  " * dep, a, b, n) for dep, a, b, n in iomem_rows(inst)), 0o444)
    loads = 0
    try:
        with open(vmlinux, "rb") as f:
            loads = sum(1 for ph in elfread.program_headers(f) if ph.type == PT_LOAD)
    except (OSError, elfread.ElfError):
        loads = 4
    write_file(os.path.join(outdir, "proc", "kimage"), kimage_line(inst, kv, loads), 0o444)

    cfg["seed"] = SEED
    cfg["fixture"] = os.path.abspath(fixture)
    cfg["kernel_offset"] = int(kv.get("KERNELOFFSET", "0"), 16)
    cfg["fallback"] = fallback
    cfg["crash_notes"] = [{"cpu": c, "spawn_phys": pa} for c, (pa, _) in enumerate(patches)]
    if fallback:
        cfg["host_release"] = HOST_RELEASE
        cfg["host_linear_map"] = HOST_LINEAR
    cfg["files"] = {"kcore": "proc/kcore" if fallback else "sys/fs/multikernel/instances/%s/kcore" % NAME,
                    "iomem": "proc/iomem",
                    "kimage": "proc/kimage", "traffic": "traffic.json", "shared": "shared.ram"}
    os.unlink(cfg_path)
    write_file(os.path.join(outdir, "lab.json"), json.dumps(cfg, indent=2, sort_keys=True) + "\n")  # last: complete
    return outdir

