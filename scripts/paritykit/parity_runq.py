#!/usr/bin/env python3
"""Run-queue parity: mkdbg's `runq` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("runq" in the by-kind line, counted in its final
"N passed, M failed"); on its own:

  parity_runq.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_runq.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  runq   one check per possible CPU of drgn's for_each_possible_cpu(): the run queue's address
         (per_cpu(runqueues, cpu)) and its current task (cpu_curr(prog, cpu): address and PID);
         one check per CPU of the CFS tasks in vruntime order (drgn's rbtree_inorder_for_each_entry
         over cfs.tasks_timeline, group entities expanded); one that mkdbg lists no other CPU.
"""

import argparse
import json
import os
import subprocess
import sys

from images import answers_from_drgn, dump_pairs  # noqa: E402 (paritykit is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("runq",)


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry
    from drgn.helpers.linux.sched import cpu_curr

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])

    def cfs_tasks(cfs_rq, depth=0):
        out = []
        for se in rbtree_inorder_for_each_entry("struct sched_entity", cfs_rq.tasks_timeline.rb_root.address_of_(),
                                                "run_node"):
            if se.my_q:
                out += cfs_tasks(se.my_q, depth + 1)
            else:
                t = drgn.container_of(se, "struct task_struct", "se")
                out.append("%#x" % t.value_())
        return out

    cpus = []
    for cpu in for_each_possible_cpu(prog):
        rq = per_cpu(prog["runqueues"], cpu)
        cur = cpu_curr(prog, cpu)
        cpus.append({"cpu": cpu, "runqueue": "%#x" % rq.address_of_().value_(), "task": "%#x" % cur.value_(),
                     "pid": cur.pid.value_(), "comm": cur.comm.string_().decode("utf-8", "replace"),
                     "cfs": cfs_tasks(rq.cfs)})
    return {"cpus": cpus}


def run_runq_checks(args, image, drgn_image, vmlinux, default_image):
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
            check("runq", "drgn on %s" % dr_image, "drgn could not answer: " + drgn_error)
            continue
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        try:
            p = subprocess.run([args.mkdbg, "--json", "-c", mk_image, "-e", "runq"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=args.timeout)
            got = json.loads(p.stdout.decode("utf-8", "replace").splitlines()[0])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
            check("runq", "runq on %s" % where, "mkdbg gave no JSON: %s" % e)
            continue
        if not got.get("ok"):
            check("runq", "runq on %s" % where, "mkdbg: %s" % got.get("error"))
            continue
        mine = {c["cpu"]: c for c in got.get("cpus", [])}
        for w in want["cpus"]:
            g = mine.get(w["cpu"])
            name = "runq on %s: CPU %d current" % (where, w["cpu"])
            if g is None:
                check("runq", name, "CPU not listed by mkdbg")
                continue
            cur = g.get("current") or {}
            diff = ["%s mkdbg %r drgn %r" % (f, a, b) for f, a, b in
                    (("runqueue", g.get("runqueue"), w["runqueue"]), ("task", cur.get("task"), w["task"]),
                     ("pid", cur.get("pid"), w["pid"]), ("comm", cur.get("comm"), w["comm"])) if a != b]
            check("runq", name, "; ".join(diff) or None)
            cfs = [t["task"] for t in g.get("cfs", [])]
            check("runq", "runq on %s: CPU %d CFS tasks (%d)" % (where, w["cpu"], len(w["cfs"])),
                  None if cfs == w["cfs"] else "mkdbg %s drgn %s" % (cfs, w["cfs"]))
        extra = sorted(set(mine) - {w["cpu"] for w in want["cpus"]})
        check("runq", "runq on %s: no CPU drgn does not list" % where, ("mkdbg lists %s" % extra) if extra else None)
        if got.get("warnings"):
            print("parity: runq on %s warns: %s" % (where, "; ".join(got["warnings"])))
        print("parity: runq on %s: %d CPUs compared with drgn" % (where, len(want["cpus"])))
    return stats


def cmd_run(args):
    import parity
    image = os.path.abspath(args.image)
    drgn_image = os.path.abspath(args.drgn_image or image)
    vmlinux = args.vmlinux or parity.find_vmlinux(drgn_image)
    stats = run_runq_checks(args, image, drgn_image, vmlinux, parity.DEFAULT_IMAGE)
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
