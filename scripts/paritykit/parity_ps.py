#!/usr/bin/env python3
"""Kernel-knowledge parity: mkdbg's `ps`, `mod`, `per_cpu` and `sys` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("ps", "mod", "per_cpu" and "sys" in the by-kind line,
counted in its final "N passed, M failed"); on its own:

  parity_ps.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
      the checks alone, ending with their own "N passed, M failed" line.
  parity_ps.py answers --image P --vmlinux P       (needs drgn)
      drgn's answers, JSON on stdout.

The dumps: the lab's running and panicked ELF dumps when --image is the default, else
--image (drgn reading --drgn-image).

What is compared, per dump:
  ps       one check per task drgn lists: drgn's for_each_task() (every thread) plus
           idle_task(cpu) for each possible CPU (PID 0; for_each_task skips them), each
           with its row in `mkdbg --json -e ps`: PID, comm, PPID (real_parent's tgid), CPU
           (task_cpu), state letter (task_state_to_char), task_struct address, and whether
           it leads its thread group; plus one check that mkdbg lists no task drgn does not.
  mod      one check per module of for_each_module(): name, base (mem[MOD_TEXT].base, or
           core_layout.base before 6.4) and core size; plus one check for extra modules.
  per_cpu  per_cpu(current_task) on every possible CPU, one check per dump.
  sys      release, and on a panicked dump panic_task() and panic_message(): one check.
"""

import os

from checks import Tally, answered_dumps, check_listed, cpu_current_task, current_task_symbol, main, mkdbg_by_key  # noqa: E402 (paritykit is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("ps", "mod", "per_cpu", "sys")
# per_cpu's variable is current_task before 6.2 and pcpu_hot.current_task after; drgn's answers say which
CMDS = ["ps", "mod", "per_cpu {current}", "sys"]


# --------------------------------------------------------------------------- drgn side

def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.module import for_each_module
    from drgn.helpers.linux.panic import panic_message, panic_task
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.sched import idle_task, task_cpu, task_state_to_char

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])

    def row(t, idle=False):
        return {"pid": t.pid.value_(), "comm": t.comm.string_().decode("utf-8", "replace"),
                "ppid": 0 if idle else t.real_parent.tgid.value_(), "cpu": task_cpu(t),
                "state": task_state_to_char(t), "task": "%#x" % t.value_(),
                "thread_group_leader": t.group_leader.value_() == t.value_()}

    tasks = [row(t) for t in for_each_task(prog)]
    cpus = list(for_each_possible_cpu(prog))
    tasks += [row(idle_task(prog, c), idle=True) for c in cpus]

    modules = []
    for m in for_each_module(prog):
        names = [x.name for x in m.type_.type.members]
        if "mem" in names:
            text = prog["MOD_TEXT"].value_()
            kinds = [e for e in prog.type("enum mod_mem_type").enumerators
                     if not e.name.startswith("MOD_INIT") and "NUM" not in e.name and e.value >= 0]
            base = m.mem[text].base.value_()
            size = sum(m.mem[e.value].size.value_() for e in kinds)
        else:
            base = m.core_layout.base.value_()
            size = m.core_layout.size.value_()
        modules.append({"name": m.name.string_().decode(), "base": "%#x" % base, "size": size})

    current = [{"cpu": c, "task": "%#x" % cpu_current_task(prog, c).value_()} for c in cpus]

    panic = None
    if prog["panic_cpu"].counter.value_() >= 0:
        msg = panic_message(prog)
        panic = {"task": "%#x" % panic_task(prog).value_(),
                 "message": msg.decode("utf-8", "replace").strip() if msg is not None else None}
    return {"tasks": tasks, "modules": modules, "current": current, "panic": panic,
            "current_symbol": current_task_symbol(prog),
            "release": prog["init_uts_ns"].name.release.string_().decode()}


# --------------------------------------------------------------------------- comparison


def run_ps_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("ps")

    for mk_image, dr_image, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        cmds = [c.format(current=want["current_symbol"]) for c in CMDS]
        got = mkdbg_by_key(args.mkdbg, mk_image, list(zip(CMDS, cmds)), args.timeout)
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image

        # ps
        ps = got["ps"]
        if not ps.get("ok"):
            check("ps", "ps on %s" % where, "mkdbg: %s" % ps.get("error"))
        else:
            check_listed(check, "ps", ps["tasks"], want["tasks"], "task",
                         ("pid", "comm", "ppid", "cpu", "state", "task", "thread_group_leader"),
                         lambda w: "ps on %s: PID %d %s (task %s)" % (where, w["pid"], w["comm"], w["task"]),
                         "ps on %s: no task drgn does not list" % where,
                         listed=lambda a, t: "%s (PID %s %s)" % (a, t["pid"], t["comm"]))
            if ps.get("warnings"):
                print("parity: ps on %s warns: %s" % (where, "; ".join(ps["warnings"])))
            pairs = {(t["pid"], t["comm"]) for t in ps["tasks"]}
            same = pairs == {(w["pid"], w["comm"]) for w in want["tasks"]}
            print("parity: ps on %s: %d tasks; (PID, comm) pairs %s drgn's for_each_task() + idle tasks"
                  % (where, len(ps["tasks"]), "equal" if same else "DIFFER FROM"))

        # mod
        mod = got["mod"]
        if not mod.get("ok"):
            check("mod", "mod on %s" % where, "mkdbg: %s" % mod.get("error"))
        else:
            check_listed(check, "mod", mod["modules"], want["modules"], "name", ("base", "size"),
                         lambda w: "mod on %s: %s" % (where, w["name"]),
                         "mod on %s: no module drgn does not list" % where)

        # per_cpu current_task
        pc = got["per_cpu {current}"]
        if not pc.get("ok"):
            check("per_cpu", "per_cpu current_task on %s" % where, "mkdbg: %s" % pc.get("error"))
        else:
            mine = ["%#x" % c["integer"] if "integer" in c else c.get("error") for c in pc["cpus"]]
            theirs = [c["task"] for c in want["current"]]
            check("per_cpu", "per_cpu current_task on %s" % where,
                  None if mine == theirs else "mkdbg %s, drgn %s" % (mine, theirs))

        # sys
        s = got["sys"]
        if not s.get("ok"):
            check("sys", "sys on %s" % where, "mkdbg: %s" % s.get("error"))
        else:
            problems = []
            if s.get("release") != want["release"]:
                problems.append("release mkdbg %r drgn %r" % (s.get("release"), want["release"]))
            mp, wp = s.get("panic"), want["panic"]
            if (mp is None) != (wp is None):
                problems.append("panic mkdbg %r drgn %r" % (mp, wp))
            elif wp is not None:
                if mp.get("task") != wp["task"]:
                    problems.append("panic task mkdbg %s drgn %s" % (mp.get("task"), wp["task"]))
                if mp.get("message") != wp["message"]:
                    problems.append("panic message mkdbg %r drgn %r" % (mp.get("message"), wp["message"]))
            check("sys", "sys on %s" % where, "; ".join(problems) or None)
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_ps_checks, "parity_ps"))
