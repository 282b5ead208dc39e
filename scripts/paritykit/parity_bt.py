#!/usr/bin/env python3
"""Backtrace parity: mkdbg's `bt` against drgn's prog.stack_trace(task).

Used by scripts/paritykit/parity.py's `run` (one check per task per dump, "bt" in the
by-kind line); on its own:

  parity_bt.py answers --image P --vmlinux P     (needs drgn)
      drgn's stack traces of the checked tasks, JSON on stdout.

The tasks checked: every CPU's current task (the panicking task on a panicked
dump, the idle tasks on an idle one), PID 1 and 2, and the lab's own processes
(facts.json "pids": mk-sleeper, mk-worker-N, ...) — sleeping tasks.

What is compared, frame by frame: the function name, the pc and the stack
pointer, inline frames included. mkdbg follows drgn's convention there: each inlined function is a
frame of its own with the pc of the real frame that holds it, innermost first,
and a frame is named by DWARF (the inlined or real function), or, for assembly
without DWARF, by the sized ELF symbol that holds the pc (entry_SYSCALL_64,
not the entry_SYSCALL_64_after_hwframe label inside it). A frame drgn cannot
name (module code, when drgn has not loaded the module's debug info) matches a
mkdbg frame at the same pc in that module's code. drgn goes on past the
syscall entry into user space; mkdbg stops there with a note, so drgn's frames
from the first user-space pc on are dropped.
"""

import os

from checks import (  # noqa: E402 (paritykit is on the path)
    Unanswered, answered_dumps, kernel_stacks, lab_tasks, main, mkdbg_json)
from images import drgn_program  # noqa: E402


def frame_of(prog):
    """FRAME for kernel_stacks: [name, pc, inline, sp] of a drgn StackFrame."""
    def frame(f):
        # The DWARF function, else the ELF symbol holding the pc, else None
        # (StackFrame.name would fall back to the pc in hex).
        name = f.function_name if hasattr(f, "function_name") else f.name
        if name is None or name.startswith("0x"):
            try:
                name = f.symbol().name
            except LookupError:
                name = None
        try:
            sp = f.sp
        except LookupError:
            sp = None  # drgn 0.3.0 on arm64: not known in a frame it found by the frame pointer
        return [name, f.pc, bool(f.is_inline), sp]
    return frame


def drgn_traces(image, vmlinux):
    prog = drgn_program(image, vmlinux)
    return kernel_stacks(prog, lab_tasks(prog, image), frame_of(prog))


# --------------------------------------------------------------------------- comparison


def compare(want, got):
    """None when mkdbg's frames match drgn's, else a description."""
    from checks import drgn_frame_indices
    frames = [got["frames"][i] for i in drgn_frame_indices(got["frames"])]
    mk = [(f["function"], int(f["pc"], 16), f["inline"], f.get("module"), int(f["sp"], 16)) for f in frames]
    # A frame found by following frame records (arm64 without DWARF CFI) has the record's
    # address after it as its stack pointer, not the CFA drgn computes: its sp is not compared.
    by_record = [f.get("method") == "frame-pointer" for f in frames]
    dr = want["frames"]
    # Without the vmlinux (parity --no-debuginfo) mkdbg has no inlined levels and names code by
    # kallsyms (`__handle_sysrq.cold`): compare drgn's real frames, by the name before the suffix.
    bare = os.environ.get("MKDBG_NO_DEBUGINFO") == "1"
    if bare:
        dr = [d for d in dr if not d[2]]
    problems = []
    for i in range(max(len(mk), len(dr))):
        if i >= len(mk) or i >= len(dr):
            problems.append("#%d mkdbg %s, drgn %s" % (
                i, "%s %#x" % mk[i][:2] if i < len(mk) else "(none)",
                "%s %#x" % (dr[i][0], dr[i][1]) if i < len(dr) else "(none)"))
            continue
        name, pc, inline, module, sp = mk[i]
        dname, dpc, dinline, dsp = dr[i]
        same_name = name == dname or (dname is None and module is not None) or (
            bare and name is not None and name.split(".")[0] == dname)
        if bare and not same_name and pc == dpc and sp == dsp and not dinline:
            # kallsyms names code by the nearest symbol, so a label inside an assembly function
            # (entry_SYSCALL_64_after_hwframe in entry_SYSCALL_64), as the kernel's own backtraces do
            same_name = name is not None
        sp_known = dsp is not None and not (bare and by_record[i])
        if not same_name or pc != dpc or inline != dinline or (sp_known and sp != dsp):
            problems.append("#%d mkdbg %s pc %#x sp %#x%s [%s], drgn %s pc %#x sp %s%s" % (
                i, name, pc, sp, " inline" if inline else "", module or "vmlinux",
                dname, dpc, "?" if dsp is None else "%#x" % dsp, " inline" if dinline else ""))
    if not problems:
        return None
    return "%d mkdbg frames, %d drgn frames; %d differ:\n  %s\n  mkdbg: %s\n  drgn:  %s" % (
        len(mk), len(dr), len(problems), "\n  ".join(problems[:4]),
        " < ".join(str(m[0]) for m in mk), " < ".join(str(d[0]) for d in dr))


def run_bt_checks(args, image, drgn_image, vmlinux, default_image):
    """mkdbg's `bt` against drgn's stack_trace(), one check per task per dump; returns (passed, failed)."""
    passed = failed = 0
    missing = Unanswered("bt")
    for mk_image, _, wants in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        answers = mkdbg_json(args.mkdbg, mk_image, ["bt %#x" % w["task"] for w in wants], args.timeout)
        gots = [g for g in answers or [] if g is not None]
        ok = 0
        for i, want in enumerate(wants):
            name = "bt %#x (PID %d %s, %s) on %s" % (want["task"], want["pid"], want["comm"], want["why"], mk_image)
            got = gots[i] if i < len(gots) else None
            if "error" in want:
                problem = "drgn could not answer: " + want["error"]
            elif got is None:
                problem = "no output from mkdbg"
            elif not got.get("ok"):
                problem = "mkdbg: " + got.get("error", "?")
            else:
                problem = compare(want, got)
            if problem is None:
                passed += 1
                ok += 1
            else:
                failed += 1
                print("FAIL [bt] %s\n  %s" % (name, problem))
        print("parity: bt on %s: %d of %d tasks name the same frames as drgn's stack_trace()" % (
            mk_image, ok, len(wants)))
    return passed, failed + missing.count


if __name__ == "__main__":
    main(__doc__, drgn_traces)
