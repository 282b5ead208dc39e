#!/usr/bin/env python3
"""Signal parity: mkdbg's `sig` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("sig" in the by-kind line); on its own:

  parity_sig.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_sig.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: for each CPU's current task, PIDs 1 and 2 and the lab's processes
(checks.lab_tasks), one check of the task's signal_struct, sighand, nr_threads and its blocked,
private and shared pending sets (the first word of each sigset), and one of all its signals'
dispositions (sighand->action[]: handler, flags, mask), as drgn reads them.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, field_diff, lab_tasks, main, mkdbg_by_key  # noqa: E402

KINDS = ("sig",)


def drgn_answers(image, vmlinux):
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    out, seen = [], set()
    for why, t in lab_tasks(prog, image):
        if t.value_() in seen or not t.signal or not t.sighand:
            continue
        seen.add(t.value_())
        h = t.sighand.action
        out.append({"why": why, "task": "%#x" % t.value_(), "pid": t.pid.value_(),
                    "signal_struct": "%#x" % t.signal.value_(), "sighand": "%#x" % t.sighand.value_(),
                    "nr_threads": t.signal.nr_threads.value_(), "blocked": t.blocked.sig[0].value_(),
                    "pending": t.pending.signal.sig[0].value_(),
                    "shared_pending": t.signal.shared_pending.signal.sig[0].value_(),
                    "actions": [[i + 1, h[i].sa.sa_handler.value_(), h[i].sa.sa_flags.value_(),
                                 h[i].sa.sa_mask.sig[0].value_()] for i in range(len(h))]})
    return {"tasks": out}


def run_sig_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check

    missing = tally.unanswered("sig")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = mkdbg_by_key(args.mkdbg, mk_image, [(w["task"], "sig " + w["task"]) for w in want["tasks"]], args.timeout)
        for w in want["tasks"]:
            g = got[w["task"]]
            who = "sig on %s: %s (PID %d)" % (where, w["why"], w["pid"])
            if not g.get("ok"):
                check("sig", who, "mkdbg: %s" % g.get("error"))
                continue
            check("sig", who + ": signal_struct and sets",
                  field_diff(g, w, ("signal_struct", "sighand", "nr_threads", "blocked", "pending", "shared_pending")))
            mine = [[a["signal"], 0 if a["handler"] == "SIG_DFL" else 1 if a["handler"] == "SIG_IGN" else int(a["handler"], 16),
                     a["flags"], a["mask"]] for a in g.get("actions", [])]
            check("sig", who + ": %d dispositions" % len(w["actions"]),
                  None if mine == w["actions"] else "mkdbg %s drgn %s" % (
                      [m for m in mine if m not in w["actions"]][:4], [d for d in w["actions"] if d not in mine][:4]))
        print("parity: sig on %s: %d tasks compared with drgn" % (where, len(want["tasks"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_sig_checks, "parity_sig"))
