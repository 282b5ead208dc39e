#!/usr/bin/env python3
"""Locals parity: mkdbg's `bt full --json` against drgn's StackFrame.locals() and frame[name].

Used by scripts/paritykit/parity.py's `run` ("locals" in the by-kind line); on its own:

  parity_locals.py answers --image P --vmlinux P     (needs drgn)
      drgn's frames and variables of the checked tasks, JSON on stdout.

The tasks checked, chosen deterministically: the panicking CPU's current task (every CPU's
current task on a dump without a panic), PID 1, the kthreads kthreadd (PID 2) and
ksoftirqd/0, which every guest starts, and the lab's own processes (facts.json "pids":
mk-sleeper, mk-worker-N, ...); all but the first sleep in schedule(). With
MKDBG_PARITY_LOCALS_ALL=1 in the environment, every task.

Then, where mkdbg's evaluator sees frame variables, every scalar drgn has a value for is
asked again the gdb way: `bt TASK`, `frame N`, `p/x NAME`, comparing the integer.

Frames line up by index: drgn and mkdbg both give each inlined function a frame of its own,
innermost first, with the real frame's pc; a frame whose pc or function name differs is a
failure and its variables are not compared. For every name drgn's locals() lists (arguments
and locals of every scope holding the pc), drgn's frame[name] is compared with the mkdbg
variable of that name (block locals first, as drgn looks names up): the bytes of the value
(to_bytes_()), and the address when both have one. Counted apart, not failures:
  - optimized out in mkdbg where drgn has a value (to drive down),
  - a value in mkdbg where drgn's object is absent (mkdbg resolves entry values through
    the caller's call site; drgn does not),
  - both optimized out,
  - values neither side can read (a user-space pointer's target is not in the dump).
"""

import os

from checks import (  # noqa: E402 (paritykit is on the path)
    Unanswered, answered_dumps, cpu_current_task, facts_pids, kernel_stacks, main, mkdbg_json)

MAX_BYTES = 4096
KTHREADS = ["kthreadd", "ksoftirqd/0"]


# --------------------------------------------------------------------------- drgn side

def drgn_tasks(prog, image):
    """(why, task) pairs, in a fixed order."""
    import drgn
    from drgn.helpers.linux.pid import find_task, for_each_task
    tasks = []
    panic_cpu = None
    try:
        v = prog["panic_cpu"]
        v = (v.counter if "counter" in str(v.type_) or hasattr(v, "counter") else v).value_()
        if 0 <= v < 4096:
            panic_cpu = v
    except (KeyError, drgn.FaultError):
        pass
    cpus = [panic_cpu] if panic_cpu is not None else range(int(prog["nr_cpu_ids"]))
    for cpu in cpus:
        tasks.append(("CPU %d's current task" % cpu, cpu_current_task(prog, cpu)))
    t = find_task(prog, 1)
    if t:
        tasks.append(("PID 1", t))
    by_comm = {}
    for t in for_each_task(prog):
        comm = t.comm.string_().decode("latin-1")
        if comm in KTHREADS and comm not in by_comm:
            by_comm[comm] = t
    for comm in KTHREADS:
        if comm in by_comm:
            tasks.append(("kthread " + comm, by_comm[comm]))
    if os.environ.get("MKDBG_PARITY_LOCALS_ALL"):  # every task, for a broad one-off run
        tasks += [("PID %d" % t.pid.value_(), t) for t in sorted(for_each_task(prog), key=lambda t: t.pid.value_())]
    # And the lab's own sleepers (facts.json "pids"), in PID order.
    for pid in sorted(facts_pids(image).values()):
        t = find_task(prog, pid)
        if t:
            tasks.append(("PID %d (lab process)" % pid, t))
    return tasks


def describe(obj):
    """What drgn says about one variable: absent, or its bytes (and address)."""
    import drgn
    if obj.absent_:
        return {"absent": True}
    out = {"type": str(obj.type_), "address": obj.address_}
    try:
        size = drgn.sizeof(obj.type_)
    except TypeError:
        size = None
    kind = obj.type_.unaliased_kind()
    if kind in (drgn.TypeKind.INT, drgn.TypeKind.BOOL, drgn.TypeKind.POINTER, drgn.TypeKind.ENUM):
        try:
            out["integer"] = int(obj.value_())
        except drgn.FaultError as e:
            out["fault"] = str(e)
    if size is not None and size <= MAX_BYTES:
        try:
            out["bytes"] = obj.to_bytes_().hex()
        except drgn.FaultError as e:
            out["fault"] = str(e)
    return out


def drgn_answers(image, vmlinux):
    from images import drgn_program
    prog = drgn_program(image, vmlinux)

    def frame(f):
        name = f.function_name if hasattr(f, "function_name") else f.name
        variables = {}
        try:
            names = f.locals()
        except Exception as e:  # drgn has no DWARF for this frame
            names = []
            variables["<locals()>"] = {"error": "%s: %s" % (type(e).__name__, e)}
        for n in names:
            try:
                variables[n] = describe(f[n])
            except Exception as e:
                variables[n] = {"error": "%s: %s" % (type(e).__name__, e)}
        return {"name": name, "pc": f.pc, "inline": bool(f.is_inline), "names": list(names), "variables": variables}

    return kernel_stacks(prog, drgn_tasks(prog, image), frame)


# --------------------------------------------------------------------------- comparison

class Counts:
    def __init__(self):
        self.agree = 0
        self.failed = 0
        self.optimized_out = 0   # mkdbg <optimized out>, drgn has a value
        self.mkdbg_only = 0      # mkdbg has a value, drgn's object is absent
        self.both_absent = 0
        self.unreadable = 0      # neither side can read the bytes
        self.drgn_errors = 0
        self.frames = 0
        self.frames_misaligned = 0


def compare_task(want, got, counts, report):
    from checks import drgn_frame_indices
    mk_frames = [got["frames"][i] for i in drgn_frame_indices(got.get("frames", []))]
    for i, df in enumerate(want["frames"]):
        where = "#%d %s" % (i, df["name"])
        if i >= len(mk_frames):
            counts.frames_misaligned += 1
            counts.failed += 1
            report("%s: mkdbg has no frame %d" % (where, i))
            continue
        mf = mk_frames[i]
        counts.frames += 1
        if int(mf["pc"], 16) != df["pc"] or (df["name"] is not None and mf["function"] != df["name"]):
            counts.frames_misaligned += 1
            counts.failed += 1
            report("%s: mkdbg's frame %d is %s at %s" % (where, i, mf["function"], mf["pc"]))
            continue
        mine = {}
        for v in mf.get("locals", []) + mf.get("arguments", []):
            mine.setdefault(v["name"], v)
        for name in df["names"]:
            d = df["variables"].get(name, {})
            m = mine.get(name)
            label = "%s %s" % (where, name)
            if "error" in d:
                counts.drgn_errors += 1
                continue
            if m is None:
                counts.failed += 1
                report("%s: drgn lists it, mkdbg does not" % label)
                continue
            m_absent = m["storage"] in ("optimized_out", "error")
            if d.get("absent"):
                if m_absent:
                    counts.both_absent += 1
                else:
                    counts.mkdbg_only += 1
                continue
            if m_absent:
                counts.optimized_out += 1
                report("%s: mkdbg %s (%s), drgn %s" % (
                    label, m["value"], m.get("why") or "no location at the pc",
                    d.get("bytes", "?")), counted=True)
                continue
            d_addr = d.get("address")
            m_addr = int(m["address"], 16) if m.get("address") else None
            if d_addr is not None and m_addr is not None and d_addr != m_addr:
                counts.failed += 1
                report("%s: mkdbg at %#x, drgn at %#x" % (label, m_addr, d_addr))
                continue
            db, mb = d.get("bytes"), m.get("bytes")
            if db is None and mb is None:
                counts.unreadable += 1
                continue
            if db != mb:
                counts.failed += 1
                report("%s: mkdbg %s (bytes %s), drgn bytes %s" % (label, m["value"], mb, db))
                continue
            counts.agree += 1


def print_checks(args, mk_image, wants):
    """`bt TASK`, `frame N`, `p/x NAME` for every scalar drgn has a value for; returns
    (agree, disagree, optimized out, None) or (0, 0, 0, why) when mkdbg's `p` does not see
    frame variables (its evaluator has no frame scope)."""
    cmds = []
    asked = []  # (line index, label, drgn integer)
    from checks import drgn_frame_indices
    for w in wants:
        bt = (mkdbg_json(args.mkdbg, mk_image, ["bt %#x" % w["task"]], args.timeout) or [None])[0] or {}
        index = drgn_frame_indices(bt.get("frames", []))
        cmds.append("bt %#x" % w["task"])
        asked.append(None)
        for i, f in enumerate(w.get("frames", [])):
            names = [n for n in f["names"] if "integer" in f["variables"].get(n, {})]
            if not names:
                continue
            cmds.append("frame %d" % (index[i] if i < len(index) else i))
            asked.append(None)
            for n in names:
                cmds.append("p/x %s" % n)
                asked.append(("PID %d #%d %s %s" % (w["pid"], i, f["name"], n), f["variables"][n]["integer"]))
    outs = [g for g in mkdbg_json(args.mkdbg, mk_image, cmds, args.timeout) or [] if g is not None]
    agree = disagree = optimized = 0
    for k, a in enumerate(asked):
        if a is None:
            continue
        label, want = a
        got = outs[k] if k < len(outs) else {}
        if not got.get("ok"):
            err = got.get("error", {})
            if isinstance(err, dict) and err.get("kind") == "unknown_symbol":
                return 0, 0, 0, "mkdbg's p does not see frame variables (no frame scope in its evaluator)"
            disagree += 1
            print("FAIL [locals p/x] %s: %s" % (label, err.get("message") if isinstance(err, dict) else err))
            continue
        if "integer" not in got:
            optimized += 1
            print("NOTE [locals p/x] %s: mkdbg %s, drgn %#x" % (label, got.get("value"), want & (2**64 - 1)))
            continue
        if (got["integer"] - want) % 2**64 != 0:
            disagree += 1
            print("FAIL [locals p/x] %s: mkdbg %s, drgn %#x" % (label, got.get("value"), want & (2**64 - 1)))
            continue
        agree += 1
    return agree, disagree, optimized, None


def run_locals_checks(args, image, drgn_image, vmlinux, default_image):
    """mkdbg's `bt full` variables against drgn's; returns (passed, failed): one per variable compared."""
    passed = failed = 0
    missing = Unanswered("locals")
    for mk_image, _, wants in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        answers = mkdbg_json(args.mkdbg, mk_image, ["bt full %#x" % w["task"] for w in wants], args.timeout)
        gots = [g for g in answers or [] if g is not None]
        counts = Counts()
        shown = {"fail": 0, "counted": 0}
        for i, want in enumerate(wants):
            name = "PID %d %s (%s)" % (want["pid"], want["comm"], want["why"])
            got = gots[i] if i < len(gots) else None

            def report(text, counted=False, name=name):
                kind = "counted" if counted else "fail"
                shown[kind] += 1
                if shown[kind] <= getattr(args, "locals_show", 40):
                    print("%s [locals] %s: %s" % ("NOTE" if counted else "FAIL", name, text))

            if "error" in want:
                counts.failed += 1
                report("drgn could not answer: " + want["error"])
            elif got is None or not got.get("ok", True) or "frames" not in got:
                counts.failed += 1
                report("mkdbg: " + (got or {}).get("error", "no output"))
            else:
                compare_task(want, got, counts, report)
        print("parity: locals on %s: %d tasks, %d frames (%d not lined up); %d variables agree, %d disagree; "
              "%d optimized out in mkdbg where drgn has a value; %d valued in mkdbg where drgn's is absent; "
              "%d optimized out in both; %d unreadable in both; %d drgn errors" % (
                  mk_image, len(wants), counts.frames, counts.frames_misaligned, counts.agree,
                  counts.failed, counts.optimized_out, counts.mkdbg_only, counts.both_absent,
                  counts.unreadable, counts.drgn_errors))
        passed += counts.agree
        failed += counts.failed
        agree, disagree, optimized, skipped = print_checks(args, mk_image, wants)
        if skipped:
            print("parity: locals p/x on %s: skipped: %s" % (mk_image, skipped))
        else:
            print("parity: locals p/x on %s: `frame N` + `p/x NAME`: %d scalars agree with drgn, %d disagree, "
                  "%d optimized out in mkdbg where drgn has a value" % (mk_image, agree, disagree, optimized))
        passed += agree
        failed += disagree
    return passed, failed + missing.count


if __name__ == "__main__":
    main(__doc__, drgn_answers)
