#!/usr/bin/env python3
"""foreach parity: mkdbg's `foreach bt` against drgn's stack_trace() of every task.

Used by scripts/paritykit/parity.py's `run` ("foreach" in the by-kind line); on its own:

  parity_foreach.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_foreach.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: one `foreach bt` (every task but the idle ones) against drgn's
for_each_task(): one check per task that mkdbg's frames are drgn's, frame by frame (as
parity_bt.py compares them: function, pc, sp, inline), and one that foreach ran for exactly
drgn's tasks.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, kernel_stacks, main, mkdbg_json  # noqa: E402

KINDS = ("foreach",)


def drgn_answers(image, vmlinux):
    from drgn.helpers.linux.pid import for_each_task
    from images import drgn_program
    import parity_bt

    prog = drgn_program(image, vmlinux)
    frame = parity_bt.frame_of(prog)
    return {"tasks": kernel_stacks(prog, [("task", t) for t in for_each_task(prog)], frame)}


def run_foreach_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    import parity_bt
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("foreach")
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["foreach bt"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("foreach", "foreach bt on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        mine = {int(t["task"], 16): t for t in got.get("tasks", [])}
        for w in want["tasks"]:
            g = mine.get(w["task"])
            name = "foreach bt on %s: PID %d %s" % (where, w["pid"], w["comm"])
            if "error" in w:
                check("foreach", name, "drgn could not answer: " + w["error"])
            elif g is None:
                check("foreach", name, "not run by foreach")
            elif not g.get("ok"):
                check("foreach", name, "mkdbg: %s" % g.get("error"))
            else:
                check("foreach", name, parity_bt.compare(w, g["result"]))
        extra = sorted(set(mine) - {w["task"] for w in want["tasks"]})
        check("foreach", "foreach bt on %s: no task drgn does not list" % where,
              ("mkdbg ran for %s" % ["%#x" % a for a in extra]) if extra else None)
        print("parity: foreach bt on %s: %d tasks compared with drgn's stack_trace()" % (where, len(want["tasks"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_foreach_checks, "parity_foreach"))
