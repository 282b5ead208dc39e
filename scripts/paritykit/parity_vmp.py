#!/usr/bin/env python3
"""Page translation parity: mkdbg's `vm -p` against drgn 0.3.0's follow_phys().

Used by scripts/paritykit/parity.py's `run` ("vm -p" in the by-kind line); on its own:

  parity_vmp.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_vmp.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: for PID 1 and the lab's processes, one check per VMA that every page
mkdbg lists has the physical address drgn's follow_phys(mm, page) gives (or is unmapped where
drgn raises FaultError), and that mkdbg lists exactly the VMA's pages.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, facts_pids, main, mkdbg_by_key  # noqa: E402

KINDS = ("vm -p",)


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.mm import follow_phys, for_each_vma
    from drgn.helpers.linux.pid import find_task
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    tasks = []
    for pid in [1] + sorted(facts_pids(image).values()):
        t = find_task(prog, pid)
        if not t or not t.mm:
            continue
        vmas = []
        for v in for_each_vma(t.mm):
            pages = []
            for va in range(v.vm_start.value_(), v.vm_end.value_(), 4096):
                try:
                    pages.append(["%#x" % va, "%#x" % int(follow_phys(t.mm, va))])
                except drgn.FaultError:
                    pages.append(["%#x" % va, None])
            vmas.append({"address": "%#x" % v.value_(), "pages": pages})
        tasks.append({"pid": pid, "vmas": vmas})
    return {"tasks": tasks}


def run_vmp_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check

    missing = tally.unanswered("vm -p")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = mkdbg_by_key(args.mkdbg, mk_image, [(t["pid"], "vm -p %d" % t["pid"]) for t in want["tasks"]], args.timeout)
        pages = 0
        for t in want["tasks"]:
            g = got[t["pid"]]
            if not g.get("ok"):
                check("vm -p", "vm -p on %s: PID %d" % (where, t["pid"]), "mkdbg: %s" % g.get("error"))
                continue
            mine = {v["address"]: [[p["virtual"], p["physical"]] for p in v.get("pages", [])] for v in g.get("vmas", [])}
            for v in t["vmas"]:
                pages += len(v["pages"])
                m = mine.get(v["address"])
                problem = None
                if m is None:
                    problem = "VMA not listed by mkdbg"
                elif m != v["pages"]:
                    problem = "differ: %s" % [(a, b) for a, b in zip(m, v["pages"]) if a != b][:4] if len(m) == len(v["pages"]) \
                        else "mkdbg %d pages, drgn %d" % (len(m), len(v["pages"]))
                check("vm -p", "vm -p on %s: PID %d VMA %s (%d pages)" % (where, t["pid"], v["address"], len(v["pages"])), problem)
        print("parity: vm -p on %s: %d pages of %d tasks compared with drgn's follow_phys" % (where, pages, len(want["tasks"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_vmp_checks, "parity_vmp"))
