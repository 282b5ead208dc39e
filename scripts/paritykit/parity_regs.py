#!/usr/bin/env python3
"""Register parity: mkdbg's `info registers` in every frame against drgn's
prog.stack_trace(task)[i].registers().

Used by scripts/paritykit/parity.py's `run` ("regs" in the by-kind line); on its own:

  parity_regs.py answers --image P --vmlinux P     (needs drgn)
      drgn's registers per frame of the checked tasks, JSON on stdout.

The tasks are parity_bt.py's (every CPU's current task, PID 1 and 2, the lab's own
processes). Frames are drgn's kernel frames (user-space ones dropped, as parity_bt
does); they are matched to mkdbg's by index, and a frame whose pc or sp differs is a
failure (parity_bt says more). Each register drgn reports is one check: mkdbg must
give the same value (drgn's rflags, fs.base, gs.base are gdb's eflags, fs_base,
gs_base). A register drgn knows and mkdbg says `<not saved>` is a failure too, and is
named as such; one mkdbg knows and drgn does not is counted, not failed (mkdbg keeps,
for example, a CPU's whole note in frame 0 of a task that was running).
"""

from checks import (  # noqa: E402 (paritykit is on the path)
    Unanswered, answered_dumps, kernel_stacks, lab_tasks, main, mkdbg_json)
from images import drgn_program  # noqa: E402

# drgn's names that gdb (and mkdbg) spell otherwise: x86-64's flags and segment bases, arm64's
# frame pointer and link register (x29, x30).
DRGN_TO_GDB = {"rflags": "eflags", "fs.base": "fs_base", "gs.base": "gs_base", "fp": "x29", "lr": "x30"}


def drgn_registers(image, vmlinux):
    prog = drgn_program(image, vmlinux)

    def frame(f):
        regs = {DRGN_TO_GDB.get(k, k): v for k, v in f.registers().items()}
        try:
            sp = f.sp
        except LookupError:
            sp = None  # drgn 0.3.0 on arm64: not known in a frame it found by the frame pointer
        return {"pc": f.pc, "sp": sp, "registers": regs}

    return kernel_stacks(prog, lab_tasks(prog, image), frame, comm=False)


def mkdbg_frames(args, image, want):
    """mkdbg's `info registers` of each of drgn's frames of one task, as JSON objects (None: no answer)."""
    from checks import drgn_frame_indices
    bt = (mkdbg_json(args.mkdbg, image, ["bt %#x" % want["task"]], args.timeout) or [None])[0] or {}
    index = drgn_frame_indices(bt.get("frames", []))
    cmds = ["bt %#x" % want["task"]]
    for i in range(len(want["frames"])):
        cmds += ["frame %d" % (index[i] if i < len(index) else i), "info registers"]
    lines = mkdbg_json(args.mkdbg, image, cmds, args.timeout)
    if lines is None:  # timed out
        return []
    # bt, then (frame, info registers) per frame: the register answers are every other line.
    return [lines[2 + 2 * i] if 2 + 2 * i < len(lines) else None for i in range(len(want["frames"]))]


def run_regs_checks(args, image, drgn_image, vmlinux, default_image):
    """One check per register drgn reports, per frame, per task, per dump; returns (passed, failed)."""
    passed = failed = 0
    missing = Unanswered("regs")
    for mk_image, _, wants in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        ok = bad = extra = not_saved = 0
        for want in wants:
            name = "PID %d (%s, task %#x) on %s" % (want["pid"], want["why"], want["task"], mk_image)
            if "error" in want:
                failed += 1
                bad += 1
                print("FAIL [regs] %s\n  drgn could not answer: %s" % (name, want["error"]))
                continue
            gots = mkdbg_frames(args, mk_image, want)
            for i, (f, got) in enumerate(zip(want["frames"], gots)):
                if got is None or not got.get("ok"):
                    failed += 1
                    bad += 1
                    print("FAIL [regs] %s frame %d\n  mkdbg: %s" % (
                        name, i, (got or {}).get("error", "no answer")))
                    continue
                mk = got.get("registers", {})
                problems = []
                for reg, value in sorted(f["registers"].items()):
                    if reg not in mk:
                        problems.append("%s: drgn %#x, mkdbg has no such register" % (reg, value))
                    elif mk[reg] is None:
                        problems.append("%s: drgn %#x, mkdbg <not saved>" % (reg, value))
                        not_saved += 1
                    elif mk[reg] != value:
                        problems.append("%s: drgn %#x, mkdbg %#x" % (reg, value, mk[reg]))
                    else:
                        passed += 1
                        ok += 1
                extra += sum(1 for r, v in mk.items() if v is not None and r not in f["registers"])
                if problems:
                    failed += len(problems)
                    bad += len(problems)
                    print("FAIL [regs] %s frame %d (pc %#x)\n  %s" % (name, i, f["pc"], "\n  ".join(problems)))
        print("parity: regs on %s: %d of %d registers drgn reports agree (%d of them <not saved> in mkdbg); "
              "%d more known to mkdbg only" % (mk_image, ok, ok + bad, not_saved, extra))
    return passed, failed + missing.count


if __name__ == "__main__":
    main(__doc__, drgn_registers)
