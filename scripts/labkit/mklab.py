#!/usr/bin/env python3
"""The lab's multikernel: a kernfs look-alike over the lab's QEMU guests (see scripts/lab mk-*).
This file is the command; the work is in the mk_*.py beside it (scripts/labkit/README.md lists them).

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
  mklab.py arm64 DIR FIXTURE
        an arm64 instance: DIR/sys/fs/multikernel with one instance, arm, whose kcore (EM_AARCH64,
        the debug interface's) holds the RAM of FIXTURE (the running arm64 dump's directory) and
        the inbox rings after the lab's traffic (DIR/traffic.json), DIR/proc/{iomem,kimage},
        DIR/lab.json (mk_arm64.py); kept when already built from the same dump. --fallback:
        today's upstream instead (no kcore, vmcoreinfo, ipi_buffer files): DIR/proc/kcore is an
        arm64 host's /proc/kcore (virtual PT_LOADs) whose linear map holds the instance's region
        --crash-notes (with --fallback): each CPU's crash_notes buffer in the copy holds the
        NT_PRSTATUS note the dump has for it, as crash_save_cpu() leaves it
  mklab.py arm64 DIR FIXTURE --fallback [--crash-notes]

Addresses. The lab places each instance in a made-up host-physical address space (LAYOUT below):
/proc/iomem, the pool and instance device trees and /proc/kimage use host-physical addresses.
Each instance is a QEMU guest whose kernel runs on guest-physical addresses 0..RAM size, so
everything a debugger dereferences (kcore p_paddr, vmcoreinfo, the NT_PRSTATUS registers) is
guest-physical: host-physical = guest-physical + the instance's region base. The shared pages
(inboxes, boot manifests) sit at 0x180000000, outside every guest's RAM and outside the pool, so
their addresses read the same in both spaces.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/ from importing the modules beside
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(os.path.dirname(HERE), "pylib"))  # elfread
from mk_arm64 import cmd_arm64  # noqa: E402
from mk_devicetree import boot_chosen, dtc, instance_dts, pool_dts  # noqa: E402
from mk_fallback import DIRECT_MAP, cmd_fallback  # noqa: E402
from mk_layout import (DAXFS_BUFFER, HOST_CPUS, HOST_OWN_CPUS, INBOX_SIZE, LAYOUT, MANIFEST_SIZE,  # noqa: E402
                       POOL_CHUNKS, POOL_PARK, POOL_SLOT, SHARED_PHYS, SHARED_SIZE, inbox_phys, load_json,
                       manifest_phys, write_file)
from mk_proc import iomem_text, kimage_text  # noqa: E402


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


# ------------------------------------------------------------------ prepare


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
        from mk_kernfs import serve  # pyfuse3 and trio: only the server needs them
        serve(os.path.abspath(args[0]))
    elif cmd == "arm64" and len(args) >= 2 and set(args[2:]) <= {"--fallback", "--crash-notes"}:
        print(cmd_arm64(args[0], args[1], fallback="--fallback" in args[2:], crash_notes="--crash-notes" in args[2:]))
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
