#!/usr/bin/env python3
"""Wait queue parity: mkdbg's `waitq` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("waitq" in the by-kind line); on its own:

  parity_waitq.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_waitq.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: the lab's workers poll a FIFO (their fd 0, /run/mk/idle); for the
pipe's rd_wait and wr_wait, one check of the wait_queue_entry list drgn's list_for_each_entry()
gives (entry, func's symbol, and the task: private, or the poll table's polling_task for
pollwake), in order.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, facts_pids, main, mkdbg_by_key  # noqa: E402

KINDS = ("waitq",)


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.pid import find_task
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    pollwake = prog.symbol("pollwake").address
    heads = []
    for comm, pid in sorted(facts_pids(image).items()):
        if not comm.startswith("mk-worker"):
            continue
        t = find_task(prog, pid)
        if not t:
            continue
        pipe = drgn.cast("struct pipe_inode_info *", t.files.fdt.fd[0].private_data)
        for which in ("rd_wait", "wr_wait"):
            head = getattr(pipe, which)
            entries = []
            for e in list_for_each_entry("struct wait_queue_entry", head.head.address_of_(), "entry"):
                task = e.private.value_()
                if e.func.value_() == pollwake:
                    task = drgn.cast("struct poll_wqueues *", e.private).polling_task.value_()
                entries.append({"address": "%#x" % e.value_(), "func_symbol": prog.symbol(e.func.value_()).name,
                                "task": "%#x" % task})
            heads.append({"who": "%s's FIFO %s" % (comm, which), "head": "%#x" % head.address_of_().value_(),
                          "entries": entries})
    return {"heads": heads}


def run_waitq_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check

    missing = tally.unanswered("waitq")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = mkdbg_by_key(args.mkdbg, mk_image, [(h["head"], "waitq " + h["head"]) for h in want["heads"]], args.timeout)
        check("waitq", "waitq on %s: the workers' FIFO queues found" % where, None if want["heads"] else "no mk-worker in facts.json")
        for h in want["heads"]:
            g = got[h["head"]]
            name = "waitq on %s: %s (%d entries)" % (where, h["who"], len(h["entries"]))
            if not g.get("ok"):
                check("waitq", name, "mkdbg: %s" % g.get("error"))
                continue
            mine = [{k: e.get(k) for k in ("address", "func_symbol", "task")} for e in g.get("entries", [])]
            check("waitq", name, None if mine == h["entries"] else "mkdbg %s drgn %s" % (mine, h["entries"]))
        print("parity: waitq on %s: %d wait queues compared with drgn" % (where, len(want["heads"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_waitq_checks, "parity_waitq"))
