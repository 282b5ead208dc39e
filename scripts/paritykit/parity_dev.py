#!/usr/bin/env python3
"""Device parity: mkdbg's `dev` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("dev" in the by-kind line); on its own:

  parity_dev.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_dev.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: every char_device_struct drgn finds on the `next` chains of
chrdevs[] (major, minors, name, cdev, its ops' symbol) and every blk_major_name on
major_names[] (major, name), one check each, and one per table that mkdbg lists no other.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, check_listed, main, mkdbg_json  # noqa: E402

KINDS = ("dev",)


def drgn_answers(image, vmlinux):
    from images import drgn_program

    prog = drgn_program(image, vmlinux)

    def chain(table):
        for head in prog[table]:
            p = head
            while p:
                yield p
                p = p.next

    def ops(cdev):
        if not cdev:
            return None
        try:
            return prog.symbol(cdev.ops.value_()).name
        except LookupError:
            return None

    chr_ = [{"address": "%#x" % d.value_(), "major": d.major.value_(), "baseminor": d.baseminor.value_(),
             "minorct": d.minorct.value_(), "name": d.name.string_().decode("utf-8", "replace"),
             "cdev": "%#x" % d.cdev.value_() if d.cdev else None, "operations_symbol": ops(d.cdev)}
            for d in chain("chrdevs")]
    blk = [{"address": "%#x" % b.value_(), "major": b.major.value_(), "name": b.name.string_().decode("utf-8", "replace")}
           for b in chain("major_names")]
    return {"chrdevs": chr_, "blkdevs": blk}


def run_dev_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check

    missing = tally.unanswered("dev")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["dev"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("dev", "dev on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        check_listed(check, "dev", got.get("chrdevs", []), want["chrdevs"], "address",
                     ("major", "baseminor", "minorct", "name", "cdev", "operations_symbol"),
                     lambda d: "dev on %s: chrdev %d %s" % (where, d["major"], d["name"]),
                     "dev on %s: no chrdev drgn does not list" % where)
        check_listed(check, "dev", got.get("blkdevs", []), want["blkdevs"], "address", ("major", "name"),
                     lambda b: "dev on %s: blkdev %d %s" % (where, b["major"], b["name"]),
                     "dev on %s: no blkdev drgn does not list" % where)
        print("parity: dev on %s: %d character and %d block devices compared with drgn"
              % (where, len(want["chrdevs"]), len(want["blkdevs"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_dev_checks, "parity_dev"))
