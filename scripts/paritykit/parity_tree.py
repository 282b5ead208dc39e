#!/usr/bin/env python3
"""tree parity: mkdbg's `tree` against drgn 0.3.0's tree helpers.

Used by scripts/paritykit/parity.py's `run` ("tree" in the by-kind line); on its own:

  parity_tree.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_tree.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump, entry by entry and in order:
  maple   `tree -t maple` on the mm_mt of PID 1 and the lab's processes against mt_for_each()
          (pointer, first and last index);
  rbtree  `tree -t rbtree -o hrtimer.node` on each CPU's first hrtimer clock base's timerqueue
          against rbtree_inorder_for_each_entry();
  xarray  `tree -t xarray` on the page cache (i_pages) of the file init maps first (busybox)
          against xa_for_each().
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, facts_pids, main, mkdbg_by_key  # noqa: E402

KINDS = ("tree",)


def drgn_answers(image, vmlinux):
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.mapletree import mt_for_each
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.pid import find_task
    from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry
    from drgn.helpers.linux.xarray import xa_for_each
    from drgn.helpers.linux.mm import for_each_vma
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    trees = []
    for pid in [1] + sorted(facts_pids(image).values()):
        t = find_task(prog, pid)
        if t and t.mm:
            root = t.mm.mm_mt.address_of_().value_()
            trees.append({"what": "PID %d's mm_mt" % pid, "cmd": "tree -t maple %#x" % root,
                          "entries": [["%#x" % e.value_(), first, last] for first, last, e in mt_for_each(t.mm.mm_mt.address_of_())]})
    for cpu in for_each_possible_cpu(prog):
        active = per_cpu(prog["hrtimer_bases"], cpu).clock_base[0].active.rb_root.rb_root.address_of_()
        trees.append({"what": "CPU %d's hrtimer queue" % cpu, "cmd": "tree -t rbtree -o hrtimer.node %#x" % active.value_(),
                      "entries": [["%#x" % h.value_(), None, None]
                                  for h in rbtree_inorder_for_each_entry("struct hrtimer", active, "node.node")]})
    init = find_task(prog, 1)
    vma = next(iter(for_each_vma(init.mm)))
    pages = vma.vm_file.f_mapping.i_pages.address_of_()
    trees.append({"what": "busybox's page cache", "cmd": "tree -t xarray %#x" % pages.value_(),
                  "entries": [["%#x" % e.value_(), i, i] for i, e in xa_for_each(pages)]})
    return {"trees": trees}


def run_tree_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("tree")
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = mkdbg_by_key(args.mkdbg, mk_image, [(t["cmd"], t["cmd"]) for t in want["trees"]], args.timeout)
        n = 0
        for t in want["trees"]:
            g = got[t["cmd"]]
            name = "tree on %s: %s (%d entries)" % (where, t["what"], len(t["entries"]))
            if not g.get("ok"):
                check("tree", name, "mkdbg: %s" % g.get("error"))
                continue
            mine = [[e["address"], e["first"], e["last"]] for e in g.get("entries", [])]
            n += len(t["entries"])
            check("tree", name, None if mine == t["entries"] and not g.get("warnings")
                  else "mkdbg %s (warnings %s) drgn %s" % (mine[:4], g.get("warnings"), t["entries"][:4]))
        print("parity: tree on %s: %d trees, %d entries compared with drgn" % (where, len(want["trees"]), n))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_tree_checks, "parity_tree"))
