#!/usr/bin/env python3
"""Swap parity: mkdbg's `swap` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("swap" in the by-kind line); on its own:

  parity_swap.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_swap.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: every swap_info[i] below nr_swapfiles with SWP_USED in its flags, as
drgn reads it: one check per area of its swap_info_struct address, flags, prio, pages,
inuse_pages, the swap file's d_path() and whether its inode is a block device (partition or
file); one that mkdbg lists no other area.
"""

import os
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, check_listed, main, mkdbg_json  # noqa: E402

KINDS = ("swap",)
SWP_USED = 1


def drgn_answers(image, vmlinux):
    from drgn.helpers.linux.fs import d_path
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    devices = []
    for i in range(min(prog["nr_swapfiles"].value_(), len(prog["swap_info"]))):
        si = prog["swap_info"][i]
        if not si or not si.flags.value_() & SWP_USED:
            continue
        f = si.swap_file
        devices.append({"swap_info_struct": "%#x" % si.value_(), "index": i, "flags": si.flags.value_(),
                        "priority": si.prio.value_(), "pages": si.pages.value_(), "inuse_pages": si.inuse_pages.value_(),
                        "path": d_path(f.f_path.address_of_()).decode("utf-8", "replace") if f else "",
                        "type": "partition" if f and stat.S_ISBLK(f.f_inode.i_mode.value_()) else "file"})
    return {"devices": devices}


def run_swap_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("swap")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["swap"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("swap", "swap on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        check_listed(check, "swap", got.get("devices", []), want["devices"], "swap_info_struct",
                     ("index", "flags", "priority", "pages", "inuse_pages", "path", "type"),
                     lambda d: "swap on %s: swap_info[%d] %s" % (where, d["index"], d["path"]),
                     "swap on %s: no swap area drgn does not list" % where)
        print("parity: swap on %s: %d swap areas compared with drgn" % (where, len(want["devices"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_swap_checks, "parity_swap"))
