#!/usr/bin/env python3
"""Helpers for scripts/lab (stdlib only). Not meant to be run by hand.

  labtool.py buildid FILE                    GNU build-id of an ELF file (hex)
  labtool.py modules MODDIR WANT...          load order (deps first): "name path" lines;
                                             WANT is NAME (required) or NAME? (optional)
  labtool.py initramfs [--applets-from HOSTBUSYBOX] OUT INIT BUSYBOX [NAME=MODULE...] [bin/NAME=PROGRAM...]
                                             gzip'd newc cpio: busybox + applet links,
                                             /init, modules (decompressed) in /lib/mkdbg;
                                             the applets are listed by HOSTBUSYBOX when
                                             BUSYBOX is another architecture's
  labtool.py unflatten FLAT OUT              makedumpfile -R replacement
  labtool.py guest RUNDIR KEY=VALUE...       parse RUNDIR/console.log into RUNDIR/guest.json
  labtool.py facts RUNDIR DUMPDIR STATE [ARCH]
                                             check the dumps, write DUMPDIR/facts.json
  labtool.py complete DUMPDIR RELEASE BUILDID VMLINUX
                                             exit 0 if DUMPDIR holds a complete fixture set
"""
import gzip
import json
import lzma
import os
import re
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pylib"))
import elfread  # noqa: E402  (the scripts' shared ELF reader)

# ---------------------------------------------------------------- ELF


def build_id(path):
    with open(path, "rb") as f:
        bid = elfread.build_id(f)
    if bid is None:
        raise SystemExit("labtool: %s has no GNU build-id note" % path)
    return bid


def vmcoreinfo_of_dump(path):
    """VMCOREINFO note text of an ELF core dump, or None."""
    with open(path, "rb") as f:
        return elfread.core_vmcoreinfo(f)

# ---------------------------------------------------------------- modules


def read_module(path):
    if path.endswith(".xz"):
        with open(path, "rb") as f:
            return lzma.decompress(f.read())
    if path.endswith(".gz"):
        with open(path, "rb") as f:
            return gzip.decompress(f.read())
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", path], check=True, stdout=subprocess.PIPE).stdout
    with open(path, "rb") as f:
        return f.read()


def modinfo(data):
    import io
    f = io.BytesIO(data)
    for name, _t, off, size in elfread.sections(f):
        if name == ".modinfo":
            info = {}
            for item in data[off:off + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    info.setdefault(k, []).append(v)
            return info
    return {}


def norm(name):
    return name.replace("-", "_")


def cmd_modules(moddir, wants):
    index = {}
    for dirpath, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            m = re.match(r"(.+)\.ko(\.xz|\.gz|\.zst)?$", fn)
            if m:
                index[norm(m.group(1))] = os.path.join(dirpath, fn)
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            for line in f:
                builtin.add(norm(os.path.basename(line.strip()).split(".ko")[0]))
    except OSError:
        pass
    order, seen = [], set()

    def visit(name, required):
        if name in seen:
            return
        seen.add(name)
        if name in builtin:
            sys.stderr.write("lab: module %s is built in\n" % name)
            return
        if name not in index:
            if required:
                raise SystemExit("labtool: module %s not found under %s" % (name, moddir))
            return
        for dep in modinfo(read_module(index[name])).get("depends", [""])[0].split(","):
            if dep:
                visit(norm(dep), True)
        order.append(name)

    for w in wants:
        visit(norm(w.rstrip("?")), not w.endswith("?"))
    for name in order:
        print(name, index[name])

# ---------------------------------------------------------------- initramfs


class Cpio:
    def __init__(self, f):
        self.f, self.ino = f, 0

    def add(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        self.ino += 1
        namez = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(namez), 0)
        hdr = b"070701" + b"".join(b"%08X" % v for v in fields) + namez
        self.f.write(hdr + b"\0" * (-len(hdr) % 4))
        self.f.write(data + b"\0" * (-len(data) % 4))

    def dir(self, name):
        self.add(name, 0o40755, nlink=2)

    def file(self, name, data, mode=0o644):
        self.add(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self.add(name, 0o120777, target.encode())

    def trailer(self):
        self.ino = -1
        self.add("TRAILER!!!", 0)


def cmd_initramfs(out, init, busybox, modules, lister=None):
    applets = subprocess.run([lister or busybox, "--list"], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    tmp = out + ".tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        c = Cpio(gz)
        for d in ("bin", "dev", "proc", "sys", "run", "tmp", "lib", "lib/mkdbg"):
            c.dir(d)
        c.add("dev/console", 0o20600, rdev=(5, 1))
        c.add("dev/null", 0o20666, rdev=(1, 3))
        with open(busybox, "rb") as f:
            c.file("bin/busybox", f.read(), 0o755)
        for a in applets:
            if a != "busybox" and "/" not in a:
                c.symlink("bin/" + a, "busybox")
        with open(init, "rb") as f:
            c.file("init", f.read(), 0o755)
        names = []
        for spec in modules:
            name, path = spec.split("=", 1)
            if name.startswith("bin/"):  # a program of the lab's own (mk-ipc)
                with open(path, "rb") as f:
                    c.file(name, f.read(), 0o755)
                continue
            c.file("lib/mkdbg/%s.ko" % name, read_module(path))
            names.append(name)
        c.file("lib/mkdbg/modules.order", "".join(n + "\n" for n in names).encode())
        c.trailer()
    os.replace(tmp, out)

# ---------------------------------------------------------------- kdump


def cmd_unflatten(src, dst):
    """Rebuild a kdump-compressed file from makedumpfile's flattened format."""
    tmp = dst + ".tmp"
    with open(src, "rb") as f, open(tmp, "wb") as out:
        head = f.read(4096)
        if not head.startswith(b"makedumpfile\0"):
            raise SystemExit("labtool: %s is not in the flattened format" % src)
        mtype, version = struct.unpack_from(">qq", head, 16)
        if mtype != 1 or version != 1:
            raise SystemExit("labtool: unknown flattened header type %d version %d" % (mtype, version))
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                raise SystemExit("labtool: %s is truncated" % src)
            offset, size = struct.unpack(">qq", rec)
            if offset == -1 and size == -1:
                break
            if offset < 0 or size < 0:
                raise SystemExit("labtool: bad flattened record (%d, %d)" % (offset, size))
            out.seek(offset)
            while size:
                chunk = f.read(min(size, 1 << 20))
                if not chunk:
                    raise SystemExit("labtool: %s is truncated" % src)
                out.write(chunk)
                size -= len(chunk)
    os.replace(tmp, dst)

# ---------------------------------------------------------------- facts


def parse_console(path):
    """What the guest's init reported on the console (see init_script in scripts/lab)."""
    with open(path, errors="replace") as f:
        text = f.read().replace("\r", "")
    g, procs, pids = {}, [], {}
    # A kernel message can land on the same console line; comm names never contain "[".
    for m in re.finditer(r"^MKDBG-PROC (\S+) (\d+) ([^\s\[]+)", text, re.M):
        want, pid, comm = m.groups()
        if comm != want:
            notes = "".join("\n  " + n for n in re.findall(r"^MKDBG-NOTE .*$", text, re.M))
            raise SystemExit("labtool: guest process %s has comm %r%s" % (want, comm, notes))
        procs.append(comm)
        pids[comm] = int(pid)
    g["processes"], g["pids"] = procs, pids
    # /sys/kernel/vmcoreinfo prints "%pa %x": both numbers are hex ("0x00000000011e2000 1024")
    m = re.search(r"^MKDBG-VMCOREINFO (0x[0-9a-fA-F]+) ([0-9a-fA-F]+)$", text, re.M)
    if not m:
        raise SystemExit("labtool: no MKDBG-VMCOREINFO line in the console log")
    g["vmcoreinfo_phys"] = int(m.group(1), 16)
    g["vmcoreinfo_size"] = int(m.group(2), 16)
    # MKDBG-IPC shm ID KEY SIZE sem ID KEY NSEMS msg ID KEY QNUM (mk_ipc.c)
    m = re.search(r"^MKDBG-IPC shm (\d+) (0x[0-9a-f]+) (\d+) sem (\d+) (0x[0-9a-f]+) (\d+) msg (\d+) (0x[0-9a-f]+) (\d+)$", text, re.M)
    if m:
        v = m.groups()
        g["ipc"] = {kind: {"id": int(v[3 * i]), "key": int(v[3 * i + 1], 16), "count": int(v[3 * i + 2])}
                    for i, kind in enumerate(("shm", "sem", "msg"))}
    # MKDBG-SWAP is /proc/swaps' line: Filename Type Size(KiB) Used Priority
    m = re.search(r"^MKDBG-SWAP (\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(-?\d+)$", text, re.M)
    if m:
        g["swap"] = {"file": m.group(1), "type": m.group(2), "size_kib": int(m.group(3)),
                     "used_kib": int(m.group(4)), "priority": int(m.group(5))}
    m = re.search(r"^MKDBG-UNAME (.*)$", text, re.M)
    g["uname"] = m.group(1) if m else ""
    g["modules"] = re.findall(r"^MKDBG-MODULE (\S+) ok$", text, re.M)
    failed = re.findall(r"^MKDBG-MODULE (\S+) FAILED$", text, re.M)
    if failed:
        raise SystemExit("labtool: guest failed to load modules: %s" % " ".join(failed))
    return g, text


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


def cmd_guest(rundir, pairs):
    g = {}
    for p in pairs:
        k, v = p.split("=", 1)
        g[k] = int(v) if re.fullmatch(r"-?\d+", v) and k not in ("build_id", "token") else v
    parsed, text = parse_console(os.path.join(rundir, "console.log"))
    g.update(parsed)
    g["marker"] = "MKDBG-MARKER " + g["token"]
    if g["marker"] not in text:
        sys.stderr.write("lab: warning: marker not echoed on the console\n")
    write_json(os.path.join(rundir, "guest.json"), g)


DUMP_FILES = {"elf": "vmcore.elf", "kdump": "vmcore.kdump", "kdump_flat": "vmcore.kdump-flat",
              "registers": "registers.txt", "console": "console.log"}
REQUIRED = ("release", "package_version", "build_id", "vmlinux", "marker", "processes",
            "vmcoreinfo_phys", "state")


# ELF machine of each lab architecture (the dump's e_machine must agree)
ELF_MACHINES = {"x86-64": 62, "arm64": 183}


def cmd_facts(rundir, dumpdir, state, arch="x86-64"):
    with open(os.path.join(rundir, "guest.json")) as f:
        g = json.load(f)
    g.update(parse_console(os.path.join(rundir, "console.log"))[0])  # lines printed after READY
    info = vmcoreinfo_of_dump(os.path.join(dumpdir, DUMP_FILES["elf"]))
    if info is None:
        raise SystemExit("labtool: the ELF dump has no VMCOREINFO note (qemu_fw_cfg not loaded?)")
    kv = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
    if kv.get("OSRELEASE") != g["release"]:
        raise SystemExit("labtool: dump OSRELEASE %r != %r" % (kv.get("OSRELEASE"), g["release"]))
    if kv.get("BUILD-ID") and kv["BUILD-ID"] != g["build_id"]:
        raise SystemExit("labtool: dump BUILD-ID %s != vmlinux %s" % (kv["BUILD-ID"], g["build_id"]))
    with open(os.path.join(dumpdir, DUMP_FILES["elf"]), "rb") as f:
        machine = struct.unpack("<H", f.read(20)[18:20])[0]
    if machine != ELF_MACHINES[arch]:
        raise SystemExit("labtool: the ELF dump's e_machine is %d, not %s's %d" % (machine, arch, ELF_MACHINES[arch]))
    facts = {k: g[k] for k in REQUIRED if k in g}
    facts.update({
        "arch": arch,
        "state": state,
        "token": g["token"],
        "pids": g["pids"],
        "vmcoreinfo_size": g["vmcoreinfo_size"],
        "kernel_offset": int(kv.get("KERNELOFFSET", "0"), 16),
        "phys_base": int(kv.get("NUMBER(phys_base)", "0")),
        "vmcoreinfo": {k: v for k, v in kv.items() if k.startswith("NUMBER(") or k == "KERNELOFFSET"
                       or k.startswith("SYMBOL(swapper_pg_dir")},
        "uname": g["uname"],
        "cmdline": g["cmdline"],
        "modules": g["modules"],
        "files": DUMP_FILES,
    })
    facts.update({k: g[k] for k in ("ipc", "swap") if k in g})  # what the guest could make
    if state == "panicked":
        facts["panic_comm"] = "mk-panicker"
    write_json(os.path.join(dumpdir, "facts.json"), facts)


def cmd_complete(dumpdir, release, bid, vmlinux):
    try:
        with open(os.path.join(dumpdir, "facts.json")) as f:
            facts = json.load(f)
    except (OSError, ValueError):
        return 1
    if any(facts.get(k) in (None, "", []) for k in REQUIRED):
        return 1
    if facts["release"] != release or facts["build_id"] != bid:
        return 1
    for name in DUMP_FILES.values():
        p = os.path.join(dumpdir, name)
        if not os.path.isfile(p) or os.path.getsize(p) == 0:
            return 1
    if facts["vmlinux"] != vmlinux:  # made by another checkout: point at this one's store
        facts["vmlinux"] = vmlinux
        write_json(os.path.join(dumpdir, "facts.json"), facts)
    return 0


def main(argv):
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "buildid":
        print(build_id(args[0]))
    elif cmd == "modules":
        cmd_modules(args[0], args[1:])
    elif cmd == "initramfs":
        lister = None
        if args[:1] == ["--applets-from"]:
            lister, args = args[1], args[2:]
        cmd_initramfs(args[0], args[1], args[2], args[3:], lister)
    elif cmd == "unflatten":
        cmd_unflatten(args[0], args[1])
    elif cmd == "guest":
        cmd_guest(args[0], args[1:])
    elif cmd == "facts":
        cmd_facts(*args[:4])
    elif cmd == "complete":
        return cmd_complete(args[0], args[1], args[2], args[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
