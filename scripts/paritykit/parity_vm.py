#!/usr/bin/env python3
"""Address-space and open-file parity: mkdbg's `vm` and `files` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("vm" and "files" in the by-kind line, counted in
its final "N passed, M failed"); on its own:

  parity_vm.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
      the checks alone, ending with their own "N passed, M failed" line.
  parity_vm.py answers --image P --vmlinux P       (needs drgn)
      drgn's answers, JSON on stdout.
  parity_vm.py two-level --image P --vmlinux P --out COPY   (needs drgn)
      writes COPY, the dump with a process's maple tree made two levels deep (PID 1's, else the
      first process whose root leaf is full); its PID and drgn's entries on stdout.

The dumps: the lab's running and panicked ELF dumps when --image is the default, else
--image (drgn reading --drgn-image).

What is compared, per dump, for every task of drgn's for_each_task() (every thread), each
asked of mkdbg by its task_struct address (`mkdbg --json -e "vm 0x…" -e "files 0x…"`):
  vm     a task without an mm: mkdbg says so (mm null, no VMAs), one check. A task with one:
         one check for the mm address, then one per VMA of drgn's for_each_vma(mm): the
         vm_area_struct address, start, end, vm_flags and the path (d_path(vm_file.f_path),
         null for an anonymous mapping); plus one check that mkdbg lists no other VMA.
         And one check of a deeper tree than the lab's processes have (their few VMAs fit one
         leaf): a sparse copy of the dump in which PID 1's full leaf (on arm64, whose init has
         fewer mappings, the first process's that is full) is split into two leaves under an
         arange_64 root, read by drgn's mt_for_each() and by `vm PID` (parity_vm.py two-level
         builds it and prints drgn's entries).
  files  one check for root and cwd (d_path of fs->root and fs->pwd), one per descriptor of
         for_each_file(task): fd, struct file and d_path(f_path); plus one check that mkdbg
         lists no other descriptor.
"""

import json
import os
import subprocess
import sys

from checks import (  # noqa: E402 (paritykit is on the path)
    Tally, answered_dumps, check_listed, field_diff, main, mkdbg_by_key)

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_APPLICABLE = 3  # two-level's exit status when no process has a full root leaf
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("vm", "files")


# --------------------------------------------------------------------------- drgn side

def rss_pages(prog, task, task_rss):
    """drgn's task_rss, except that 6.2+'s per-CPU counters are summed over every possible CPU:
    task_rss sums the online ones, as the kernel does, but a CPU that panic() stopped is offline
    without having folded its counts, so they are real pages (a CPU unplugged normally folds
    and zeroes its part, so summing it too is harmless)."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr
    stat = task.mm.rss_stat
    if "percpu_counter" not in str(stat.type_):
        return task_rss(prog, task).total
    total = 0
    for name in ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES"):
        c = stat[prog[name].value_()]
        total += c.count.value_() + sum(per_cpu_ptr(c.counters, cpu)[0].value_() for cpu in for_each_possible_cpu(prog))
    return max(total, 0)


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.fs import d_path, for_each_file
    from drgn.helpers.linux.mm import for_each_vma, task_rss, task_vsize
    from drgn.helpers.linux.pid import for_each_task

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])

    def pseudo(dentry):
        # d_path() hands a pseudo filesystem's dentry to its d_op->d_dname: do the same by name
        # (drgn 0.3.0's d_path does not, and faults on sockfs)
        if not dentry:
            return None
        ops = dentry.d_op
        if not ops or not ops.d_dname:
            return None
        try:
            fn = prog.symbol(ops.d_dname.value_()).name
        except LookupError:
            return None
        if fn == "sockfs_dname":
            return "socket:[%d]" % dentry.d_inode.i_ino.value_()
        if fn == "pipefs_dname":
            return "pipe:[%d]" % dentry.d_inode.i_ino.value_()
        if fn == "anon_inodefs_dname":
            return "anon_inode:" + dentry.d_name.name.string_().decode("utf-8", "replace")
        if fn == "simple_dname":  # fs/d_path.c: "/NAME (deleted)"
            return "/" + dentry.d_name.name.string_().decode("utf-8", "replace") + " (deleted)"
        return None

    def path(p):
        name = pseudo(p.dentry)
        if name is not None:
            return name
        return d_path(p).decode("utf-8", "replace")

    tasks = []
    for t in for_each_task(prog):
        row = {"task": "%#x" % t.value_(), "pid": t.pid.value_(),
               "comm": t.comm.string_().decode("utf-8", "replace"), "mm": None, "vmas": []}
        if t.mm:
            row["mm"] = "%#x" % t.mm.value_()
            row["rss_kb"] = rss_pages(prog, t, task_rss) * prog["PAGE_SIZE"].value_() // 1024
            row["total_vm_kb"] = task_vsize(t) // 1024
            for v in for_each_vma(t.mm):
                row["vmas"].append({"address": "%#x" % v.value_(), "start": "%#x" % v.vm_start.value_(),
                                    "end": "%#x" % v.vm_end.value_(), "flags": "%#x" % v.vm_flags.value_(),
                                    "path": path(v.vm_file.f_path) if v.vm_file else None})
        if t.fs:
            row["root"], row["cwd"] = path(t.fs.root), path(t.fs.pwd)
        else:
            row["root"] = row["cwd"] = None
        # An fd reserved but not installed yet (a task blocked in accept()) has its open_fds bit
        # set and a NULL file: drgn lists it, the kernel (and mkdbg) has no file there.
        row["files"] = [{"fd": fd, "file": "%#x" % f.value_(), "path": path(f.f_path)}
                        for fd, f in for_each_file(t) if f] if t.files else []
        tasks.append(row)
    return {"tasks": tasks}


# --------------------------------------------------------------------------- comparison

def run_vm_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("vm")

    for mk_image, dr_image, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        keyed = [((c, t["task"]), "%s %s" % (c, t["task"])) for t in want["tasks"] for c in ("vm", "files")]
        got = mkdbg_by_key(args.mkdbg, mk_image, keyed, args.timeout)
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        nvma = nfd = 0
        for w in want["tasks"]:
            who = "%s: PID %d %s (task %s)" % (where, w["pid"], w["comm"], w["task"])
            vm = got[("vm", w["task"])]
            if not vm.get("ok"):
                check("vm", "vm on " + who, "mkdbg: %s" % vm.get("error"))
            elif w["mm"] is None:
                check("vm", "vm on %s: no mm" % who,
                      None if vm.get("mm") is None and not vm.get("vmas") else "mkdbg mm %s, %d VMAs"
                      % (vm.get("mm"), len(vm.get("vmas") or [])))
            else:
                check("vm", "vm on %s: mm, RSS, total VM" % who, field_diff(vm, w, ("mm", "rss_kb", "total_vm_kb")))
                nvma += len(w["vmas"])
                check_listed(check, "vm", vm.get("vmas", []), w["vmas"], "address", ("start", "end", "flags", "path"),
                             lambda v, who=who: "vm on %s: VMA %s %s-%s" % (who, v["address"], v["start"], v["end"]),
                             "vm on %s: no VMA drgn does not list" % who)
                if vm.get("warnings"):
                    print("parity: vm on %s warns: %s" % (who, "; ".join(vm["warnings"])))
            fl = got[("files", w["task"])]
            if not fl.get("ok"):
                check("files", "files on " + who, "mkdbg: %s" % fl.get("error"))
                continue
            check("files", "files on %s: root and cwd" % who,
                  None if (fl.get("root"), fl.get("cwd")) == (w["root"], w["cwd"]) else
                  "mkdbg %r %r drgn %r %r" % (fl.get("root"), fl.get("cwd"), w["root"], w["cwd"]))
            nfd += len(w["files"])
            check_listed(check, "files", fl.get("files", []), w["files"], "fd", ("file", "path"),
                         lambda f, who=who: "files on %s: fd %d %s" % (who, f["fd"], f["path"]),
                         "files on %s: no fd drgn does not list" % who, lists="mkdbg lists fd ")
            if fl.get("warnings"):
                print("parity: files on %s warns: %s" % (who, "; ".join(fl["warnings"])))
        print("parity: vm/files on %s: %d tasks, %d VMAs, %d open files compared with drgn"
              % (where, len(want["tasks"]), nvma, nfd))
        two_level_check(args, mk_image, dr_image, vmlinux, check, where)
    return tally.stats


def two_level(image, vmlinux, out):
    """Copies IMAGE (sparse) to OUT with a full maple root leaf (PID 1's, else the first process's
    in PID order that is full) split into two leaves under a new arange_64 root in zeroed memory;
    returns the PID and drgn's mt_for_each() of the copy's tree."""
    import struct

    import drgn
    from drgn.helpers.linux.mapletree import mt_for_each
    from drgn.helpers.linux.pid import find_task

    subprocess.run(["cp", "--sparse=always", image, out], check=True)
    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])
    from drgn.helpers.linux.pid import for_each_task

    def root_leaf(task):
        mm = task.mm
        node = mm.mm_mt.ma_root.value_() & ~0xff
        leaf = drgn.Object(prog, "struct maple_range_64", address=node)
        return mm, [leaf.pivot[i].value_() for i in range(len(leaf.pivot))], [leaf.slot[i].value_() for i in range(len(leaf.slot))]

    candidates = [find_task(prog, 1)] + sorted((t for t in for_each_task(prog) if t.mm and t.pid.value_() > 1),
                                               key=lambda t: t.pid.value_())
    pid = None
    for t in candidates:
        # a root that is a leaf (maple_leaf_64, type 1 in bits 3-6), every slot in use
        root = t.mm.mm_mt.ma_root.value_()
        if root & 3 != 2 or (root >> 3) & 0xf != 1:
            continue
        mm, pivots, slots = root_leaf(t)
        if pivots[-1] == (1 << 64) - 1:
            pid = t.pid.value_()
            break
    if pid is None:
        sys.stderr.write("no process's root leaf is full; the two-level check needs one that is\n")
        sys.exit(NOT_APPLICABLE)
    node = mm.mm_mt.ma_root.value_() & ~0xff

    def off(t, m):
        return drgn.offsetof(prog.type(t), m)

    with open(out, "r+b") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        loads = []
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            typ, _, o, _, pa, fs, _, _ = struct.unpack("<IIQQQQQQ", f.read(56))
            if typ == 1:
                loads.append((pa, o, fs))
        from checks import direct_map_base
        direct = direct_map_base(prog)

        def at(va):
            pa = va - direct
            for p, o, fs in loads:
                if p <= pa < p + fs:
                    f.seek(o + pa - p)
                    return
            raise SystemExit("no PT_LOAD holds %#x" % va)

        base = None
        for p, o, fs in sorted(loads, key=lambda load: -load[2]):
            for k in range(0, fs // 4096, 97):
                f.seek(o + 4096 * k)
                if f.read(4096) == bytes(4096):
                    try:
                        prog.read(direct + p + 4096 * k, 4096)
                    except drgn.FaultError:
                        continue
                    base = direct + p + 4096 * k
                    break
            if base:
                break
        if base is None:
            raise SystemExit("no zeroed page drgn can read")

        def put(va, data):
            at(va)
            f.write(data)

        def word(v):
            return struct.pack("<Q", v)

        rp, rs = off("struct maple_range_64", "pivot"), off("struct maple_range_64", "slot")
        rend = off("struct maple_range_64", "meta.end")
        ap, aslot = off("struct maple_arange_64", "pivot"), off("struct maple_arange_64", "slot")
        aend = off("struct maple_arange_64", "meta.end")
        last = len(pivots) - 1
        split = last // 2
        l1, l2, root = base, base + 256, base + 512
        for i in range(split):
            put(l1 + rp + 8 * i, word(pivots[i]))
        for i in range(split + 1):
            put(l1 + rs + 8 * i, word(slots[i]))
        put(l1 + rend, bytes([split]))
        for i in range(split + 1, last):
            put(l2 + rp + 8 * (i - split - 1), word(pivots[i]))
        for i in range(split + 1, last + 1):
            put(l2 + rs + 8 * (i - split - 1), word(slots[i]))
        put(l2 + rend, bytes([last - split - 1]))
        put(root + ap, word(pivots[split]))
        put(root + aslot, word(l1 | 0x0e))  # maple_leaf_64 (1) in bits 3-6, bit 1: a node
        put(root + aslot + 8, word(l2 | 0x0e))
        put(root + aend, bytes([1]))
        tree = mm.mm_mt.address_of_().value_()
        put(tree + off("struct maple_tree", "ma_root"), word(root | 0x1a))  # maple_arange_64 (3)
        flags = mm.mm_mt.ma_flags.value_()
        put(tree + off("struct maple_tree", "ma_flags"), struct.pack("<I", (flags & ~0x7c) | (2 << 2)))

    copy = drgn.Program()
    copy.set_core_dump(out)
    copy.load_debug_info([vmlinux])
    mt = find_task(copy, pid).mm.mm_mt.address_of_()
    return {"pid": pid, "entries": [{"start": "%#x" % a, "last": "%#x" % b, "address": "%#x" % e.value_()}
                                    for a, b, e in mt_for_each(mt)]}


def two_level_check(args, mk_image, dr_image, vmlinux, check, where):
    """One `vm` check: `vm 1` on the two-level copy against drgn's mt_for_each() of it."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="parity-vm-") as tmp:
        out = os.path.join(tmp, "vmcore.elf")
        p = subprocess.run([args.venv_python, os.path.abspath(__file__), "two-level", "--image", dr_image,
                            "--vmlinux", vmlinux, "--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        name = "vm on %s: a process's tree split into two levels" % where
        if p.returncode == NOT_APPLICABLE:  # (the arm64 guest's processes have small trees)
            print("parity: %s: not applicable, %s" % (name, p.stderr.decode("utf-8", "replace").strip()))
            return
        if p.returncode != 0:
            check("vm", name, "drgn could not build or read it: " + p.stderr.decode("utf-8", "replace")[-300:])
            return
        built = json.loads(p.stdout)
        pid, want = built["pid"], built["entries"]
        name = "vm on %s: PID %d's tree split into two levels" % (where, pid)
        q = subprocess.run([args.mkdbg, "--json", "-c", out, "-e", "vm %d" % pid], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=args.timeout)
        try:
            got = json.loads(q.stdout.decode("utf-8", "replace").splitlines()[0])
        except (ValueError, IndexError):
            check("vm", name, "mkdbg: no JSON (%s)" % q.stderr.decode("utf-8", "replace")[-300:])
            return
        mine = [{"start": v["start"], "last": "%#x" % (int(v["end"], 16) - 1), "address": v["address"]}
                for v in got.get("vmas", [])]
        problem = None
        if mine != want or got.get("warnings"):
            problem = "mkdbg %s (warnings %s), drgn %s" % (mine, got.get("warnings"), want)
        check("vm", name, problem)
        print("parity: vm on %s: a two-level copy of PID %d's tree, %d entries" % (where, pid, len(want)))


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_vm_checks, "parity_vm"),
         tools=[("two-level", ["--out"], lambda a: two_level(a.image, a.vmlinux, a.out))])
