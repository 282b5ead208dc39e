"""Today's-upstream fixture (mklab.py fallback): a host-kcore-style ELF of one instance, its /proc
and kernfs files, lab.json; --crash-notes writes each CPU's crash note into the copy."""

import json
import os
import struct
import subprocess

from mk_core import NT_PRPSINFO, NT_PRSTATUS, PRSTATUS_SIZE, Segment, core_headers, core_layout, note, parse_registers, prstatus
from mk_devicetree import dtc, instance_dts, pool_dts
from mk_layout import PAGE, START_KERNEL_MAP, load_json, write_file
from mk_proc import HOST_IOMEM_LOW, HOST_RAM_HIGH, kimage_text, vmcoreinfo_kv, vmcoreinfo_text
from qmp import QMP


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
