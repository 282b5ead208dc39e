#!/usr/bin/env python3
"""Address-space and open-file parity: mkdbg's `vm` and `files` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("vm" and "files" in the by-kind line, counted in
its final "N passed, M failed"); on its own:

  parity_vm.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
      the checks alone, ending with their own "N passed, M failed" line.
  parity_vm.py answers --image P --vmlinux P       (needs drgn)
      drgn's answers, JSON on stdout.

The dumps: the lab's running and panicked ELF dumps when --image is the default, else
--image (drgn reading --drgn-image).

What is compared, per dump, for every task of drgn's for_each_task() (every thread), each
asked of mkdbg by its task_struct address (`mkdbg --json -e "vm 0x…" -e "files 0x…"`):
  vm     a task without an mm: mkdbg says so (mm null, no VMAs), one check. A task with one:
         one check for the mm address, then one per VMA of drgn's for_each_vma(mm): the
         vm_area_struct address, start, end, vm_flags and the path (d_path(vm_file.f_path),
         null for an anonymous mapping); plus one check that mkdbg lists no other VMA.
  files  one check for root and cwd (d_path of fs->root and fs->pwd), one per descriptor of
         for_each_file(task): fd, struct file and d_path(f_path); plus one check that mkdbg
         lists no other descriptor.
"""

import argparse
import json
import os
import subprocess
import sys

from images import answers_from_drgn, dump_pairs  # noqa: E402 (paritykit is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("vm", "files")


# --------------------------------------------------------------------------- drgn side

def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.fs import d_path, for_each_file
    from drgn.helpers.linux.mm import for_each_vma, task_rss, task_vsize
    from drgn.helpers.linux.pid import for_each_task

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])

    def path(p):
        return d_path(p).decode("utf-8", "replace")

    tasks = []
    for t in for_each_task(prog):
        row = {"task": "%#x" % t.value_(), "pid": t.pid.value_(),
               "comm": t.comm.string_().decode("utf-8", "replace"), "mm": None, "vmas": []}
        if t.mm:
            row["mm"] = "%#x" % t.mm.value_()
            row["rss_kb"] = task_rss(prog, t).total * prog["PAGE_SIZE"].value_() // 1024
            row["total_vm_kb"] = task_vsize(t) // 1024
            for v in for_each_vma(t.mm):
                row["vmas"].append({"address": "%#x" % v.value_(), "start": "%#x" % v.vm_start.value_(),
                                    "end": "%#x" % v.vm_end.value_(), "flags": "%#x" % v.vm_flags.value_(),
                                    "path": path(v.vm_file.f_path) if v.vm_file else None})
        if t.fs:
            row["root"], row["cwd"] = path(t.fs.root), path(t.fs.pwd)
        else:
            row["root"] = row["cwd"] = None
        row["files"] = [{"fd": fd, "file": "%#x" % f.value_(), "path": path(f.f_path)}
                        for fd, f in for_each_file(t)] if t.files else []
        tasks.append(row)
    return {"tasks": tasks}


# --------------------------------------------------------------------------- comparison

def mkdbg_answers(mkdbg, image, tasks, timeout):
    """{(command, task): JSON object} for `vm` and `files` of each task."""
    cmds = []
    for t in tasks:
        cmds += [("vm", t["task"]), ("files", t["task"])]
    argv = [mkdbg, "--json", "-c", image]
    for c, a in cmds:
        argv += ["-e", "%s %s" % (c, a)]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        lines = p.stdout.decode("utf-8", "replace").splitlines()
    except subprocess.TimeoutExpired:
        lines = []
    out = {}
    for key, line in zip(cmds, lines):
        try:
            out[key] = json.loads(line)
        except ValueError:
            out[key] = {"ok": False, "error": "not JSON: " + line[:200]}
    for key in cmds:
        out.setdefault(key, {"ok": False, "error": "no output from mkdbg"})
    return out


def run_vm_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    stats = {k: [0, 0] for k in KINDS}

    def check(kind, name, problem):
        if problem is None:
            stats[kind][0] += 1
        else:
            stats[kind][1] += 1
            print("FAIL [%s] %s\n  %s" % (kind, name, problem))

    for mk_image, dr_image in dump_pairs(args, image, drgn_image, default_image):
        want, drgn_error = answers_from_drgn(args, __file__, dr_image, vmlinux)
        if want is None:
            check("vm", "drgn on %s" % dr_image, "drgn could not answer: " + drgn_error)
            continue
        got = mkdbg_answers(args.mkdbg, mk_image, want["tasks"], args.timeout)
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
                diff = ["%s mkdbg %r drgn %r" % (f, vm.get(f), w[f]) for f in ("mm", "rss_kb", "total_vm_kb")
                        if vm.get(f) != w[f]]
                check("vm", "vm on %s: mm, RSS, total VM" % who, "; ".join(diff) or None)
                mine = {v["address"]: v for v in vm.get("vmas", [])}
                for v in w["vmas"]:
                    nvma += 1
                    g = mine.get(v["address"])
                    if g is None:
                        problem = "not listed by mkdbg"
                    else:
                        diff = ["%s mkdbg %r drgn %r" % (f, g.get(f), v[f]) for f in ("start", "end", "flags", "path")
                                if g.get(f) != v[f]]
                        problem = "; ".join(diff) or None
                    check("vm", "vm on %s: VMA %s %s-%s" % (who, v["address"], v["start"], v["end"]), problem)
                extra = sorted(set(mine) - {v["address"] for v in w["vmas"]})
                check("vm", "vm on %s: no VMA drgn does not list" % who,
                      ("mkdbg lists %s" % ", ".join(extra)) if extra else None)
                if vm.get("warnings"):
                    print("parity: vm on %s warns: %s" % (who, "; ".join(vm["warnings"])))
            fl = got[("files", w["task"])]
            if not fl.get("ok"):
                check("files", "files on " + who, "mkdbg: %s" % fl.get("error"))
                continue
            check("files", "files on %s: root and cwd" % who,
                  None if (fl.get("root"), fl.get("cwd")) == (w["root"], w["cwd"]) else
                  "mkdbg %r %r drgn %r %r" % (fl.get("root"), fl.get("cwd"), w["root"], w["cwd"]))
            mine = {f["fd"]: f for f in fl.get("files", [])}
            for f in w["files"]:
                nfd += 1
                g = mine.get(f["fd"])
                if g is None:
                    problem = "not listed by mkdbg"
                else:
                    diff = ["%s mkdbg %r drgn %r" % (k, g.get(k), f[k]) for k in ("file", "path") if g.get(k) != f[k]]
                    problem = "; ".join(diff) or None
                check("files", "files on %s: fd %d %s" % (who, f["fd"], f["path"]), problem)
            extra = sorted(set(mine) - {f["fd"] for f in w["files"]})
            check("files", "files on %s: no fd drgn does not list" % who,
                  ("mkdbg lists fd %s" % ", ".join(map(str, extra))) if extra else None)
            if fl.get("warnings"):
                print("parity: files on %s warns: %s" % (who, "; ".join(fl["warnings"])))
        print("parity: vm/files on %s: %d tasks, %d VMAs, %d open files compared with drgn"
              % (where, len(want["tasks"]), nvma, nfd))
    return stats


def cmd_run(args):
    import parity
    image = os.path.abspath(args.image)
    drgn_image = os.path.abspath(args.drgn_image or image)
    vmlinux = args.vmlinux or parity.find_vmlinux(drgn_image)
    stats = run_vm_checks(args, image, drgn_image, vmlinux, parity.DEFAULT_IMAGE)
    print("parity_vm: by kind: " + ", ".join("%s %d/%d" % (k, s[0], s[0] + s[1]) for k, s in stats.items()))
    passed = sum(s[0] for s in stats.values())
    failed = sum(s[1] for s in stats.values())
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("answers")
    s.add_argument("--image", required=True)
    s.add_argument("--vmlinux", required=True)
    r = sub.add_parser("run")
    r.add_argument("--image", default=os.path.expanduser("~/.cache/mkdbg/lab/fixtures/running/vmcore.elf"))
    r.add_argument("--drgn-image", default=None)
    r.add_argument("--vmlinux", default=None)
    r.add_argument("--mkdbg", default=os.environ.get("MKDBG") or os.path.join(ROOT, ".build", "debug", "mkdbg"))
    r.add_argument("--venv-python", required=True)
    r.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    if args.cmd == "answers":
        json.dump(drgn_answers(args.image, args.vmlinux), sys.stdout)
    else:
        sys.exit(cmd_run(args))


if __name__ == "__main__":
    main()
