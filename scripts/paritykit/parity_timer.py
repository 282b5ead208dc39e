#!/usr/bin/env python3
"""Timer parity: mkdbg's `timer` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("timer" in the by-kind line); on its own:

  parity_timer.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_timer.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  timer  per possible CPU and timer base (per_cpu(timer_bases, cpu)[i]): one check per timer_list
         drgn finds with hlist_for_each_entry() over every wheel bucket (address, expiry, function's
         symbol), and one that mkdbg lists no other; per CPU and hrtimer clock base
         (per_cpu(hrtimer_bases, cpu).clock_base[i]): the hrtimers of the active timerqueue in
         drgn's rbtree_inorder_for_each_entry() order (address, expiry, soft expiry, function).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, check_listed, field_diff, main, mkdbg_json  # noqa: E402

KINDS = ("timer",)


def drgn_answers(image, vmlinux):
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.list import hlist_for_each_entry
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry
    from images import drgn_program

    prog = drgn_program(image, vmlinux)

    def name(fn):
        try:
            return prog.symbol(fn.value_()).name
        except LookupError:
            return None

    cpus = []
    for cpu in for_each_possible_cpu(prog):
        bases = per_cpu(prog["timer_bases"], cpu)
        wheel = []
        for i in range(len(bases)):
            timers = []
            for head in bases[i].vectors:
                for t in hlist_for_each_entry("struct timer_list", head.address_of_(), "entry"):
                    timers.append({"address": "%#x" % t.value_(), "expires": t.expires.value_(),
                                   "function_symbol": name(t.function)})
            wheel.append({"index": i, "address": "%#x" % bases[i].address_of_().value_(), "timers": timers})
        hr = per_cpu(prog["hrtimer_bases"], cpu)
        clocks = []
        for i in range(len(hr.clock_base)):
            b = hr.clock_base[i]
            timers = [{"address": "%#x" % t.value_(), "expires": t.node.expires.value_(),
                       "soft_expires": t._softexpires.value_(), "function_symbol": name(t.function)}
                      for t in rbtree_inorder_for_each_entry("struct hrtimer", b.active.rb_root.rb_root.address_of_(),
                                                             "node.node")]
            clocks.append({"index": i, "address": "%#x" % b.address_of_().value_(), "timers": timers})
        cpus.append({"cpu": cpu, "wheel": wheel, "hrtimer_bases": clocks})
    return {"cpus": cpus}


def run_timer_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check

    missing = tally.unanswered("timer")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["timer"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("timer", "timer on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        mine = {c["cpu"]: c for c in got.get("cpus", [])}
        wheel_timers = hr_timers = 0
        for w in want["cpus"]:
            g = mine.get(w["cpu"])
            if g is None:
                check("timer", "timer on %s: CPU %d" % (where, w["cpu"]), "CPU not listed by mkdbg")
                continue
            bases = {b["index"]: b for b in g.get("wheel", [])}
            for wb in w["wheel"]:
                gb = bases.get(wb["index"], {"address": None, "timers": []})
                at = "timer on %s: CPU %d base %d" % (where, w["cpu"], wb["index"])
                check("timer", at + " address", field_diff(gb, wb, ("address",)))
                wheel_timers += len(wb["timers"])
                check_listed(check, "timer", gb["timers"], wb["timers"], "address", ("expires", "function_symbol"),
                             lambda t, at=at: "%s: timer_list %s" % (at, t["address"]), at + ": no timer drgn does not list")
            clocks = {b["index"]: b for b in g.get("hrtimer_bases", [])}
            for wb in w["hrtimer_bases"]:
                gb = clocks.get(wb["index"], {"address": None, "timers": []})
                at = "timer -r on %s: CPU %d clock base %d" % (where, w["cpu"], wb["index"])
                hr_timers += len(wb["timers"])
                fields = ("address", "expires", "soft_expires", "function_symbol")
                mine_hr = [{f: t.get(f) for f in fields} for t in gb["timers"]]
                check("timer", at + " (%d hrtimers, in order)" % len(wb["timers"]),
                      None if gb.get("address") == wb["address"] and mine_hr == wb["timers"]
                      else "mkdbg %s %s drgn %s %s" % (gb.get("address"), mine_hr, wb["address"], wb["timers"]))
        extra = sorted(set(mine) - {w["cpu"] for w in want["cpus"]})
        check("timer", "timer on %s: no CPU drgn does not list" % where, ("mkdbg lists %s" % extra) if extra else None)
        if got.get("warnings"):
            print("parity: timer on %s warns: %s" % (where, "; ".join(got["warnings"])))
        print("parity: timer on %s: %d wheel timers, %d hrtimers compared with drgn" % (where, wheel_timers, hr_timers))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_timer_checks, "parity_timer"))
