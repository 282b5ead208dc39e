"""What the drgn-comparing parity modules (parity_bt, _regs, _locals, _vtop, _ps, _vm) share: one
mkdbg --json run over a list of commands, passed/failed tallies by kind, and their command line
(`answers` runs in drgn's venv; `run` and helper subcommands where a module has them)."""

import argparse
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in scripts/

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KERNEL_HALF = 0xFFFF800000000000


# --------------------------------------------------------------------------- drgn side


def facts_pids(image):
    """The lab's own processes ({name: PID}) from the facts.json next to IMAGE ({} without one)."""
    path = os.path.join(os.path.dirname(os.path.abspath(image)), "facts.json")
    try:
        with open(path) as f:
            return json.load(f).get("pids", {})
    except (OSError, ValueError):
        return {}


def current_task_symbol(prog):
    """The per-CPU variable holding each CPU's current task: `current_task` before 6.2,
    `pcpu_hot.current_task` from then on (x86-64); arm64 keeps current in sp_el0 and the task
    it switched to in `__entry_task`."""
    for name in ("current_task", "pcpu_hot"):
        try:
            prog[name]
            return name if name == "current_task" else "pcpu_hot.current_task"
        except KeyError:
            pass
    return "__entry_task"


def cpu_current_task(prog, cpu):
    """CPU's current task, read from the per-CPU variable current_task_symbol names."""
    from drgn.helpers.linux.percpu import per_cpu
    obj = prog
    for i, part in enumerate(current_task_symbol(prog).split(".")):
        obj = per_cpu(prog[part], cpu) if i == 0 else getattr(obj, part)
    return obj


def direct_map_base(prog):
    """The virtual address of physical 0 in the direct (linear) map: x86-64's page_offset_base;
    elsewhere (arm64) drgn's phys_to_virt of the first memblock region minus its address."""
    try:
        return int(prog["page_offset_base"])
    except KeyError:
        from drgn.helpers.linux.mm import phys_to_virt
        b = int(prog["memblock"].memory.regions[0].base)
        return (int(phys_to_virt(prog, b)) - b) & (2 ** 64 - 1)


def drgn_frame_indices(frames):
    """Indices of mkdbg's `bt --json` frames that line up with drgn 0.3.0's: all but the caller
    mkdbg keeps under a function stopped in its patchable entry (arm64's first 8 bytes, before its
    FDE), where drgn has no CFI and takes the frame record, skipping the caller x30 holds. That
    caller is at the entry frame's own sp (the function has pushed nothing yet)."""
    def skipped(i):
        f, prev = frames[i], frames[i - 1] if i > 0 else None
        return (prev is not None and not f["inline"] and not prev["inline"] and prev.get("offset") is not None
                and prev["offset"] < 8 and f["sp"] == prev["sp"] and f["pc"] != prev["pc"])
    return [i for i in range(len(frames)) if not skipped(i)]


def lab_tasks(prog, image):
    """(why, task): each CPU's current task, PIDs 1 and 2, then the lab's processes in PID order."""
    from drgn.helpers.linux.pid import find_task
    tasks = []
    for cpu in range(int(prog["nr_cpu_ids"])):
        try:
            tasks.append(("CPU %d's current task" % cpu, cpu_current_task(prog, cpu)))
        except Exception:
            pass
    for pid in [1, 2] + sorted(facts_pids(image).values()):
        t = find_task(prog, pid)
        if t:
            tasks.append(("PID %d" % pid, t))
    return tasks


def kernel_stacks(prog, tasks, frame, comm=True):
    """One entry per distinct task of TASKS ((why, task)): why, task, pid (and comm), and "frames",
    FRAME(f) of each frame drgn's stack_trace() gives up to the first user-space pc, or "error"."""
    out, seen = [], set()
    for why, t in tasks:
        addr = t.value_()
        if addr in seen:
            continue
        seen.add(addr)
        entry = {"why": why, "task": addr, "pid": t.pid.value_()}
        if comm:
            entry["comm"] = t.comm.string_().decode("latin-1")
        try:
            frames = []
            for f in prog.stack_trace(t):
                if f.pc < KERNEL_HALF:
                    break
                frames.append(frame(f))
            entry["frames"] = frames
        except Exception as e:
            entry["error"] = "%s: %s" % (type(e).__name__, e)
        out.append(entry)
    return out


# --------------------------------------------------------------------------- mkdbg side



def mkdbg_lines(mkdbg, image, cmds, timeout):
    """The lines `mkdbg --json -c IMAGE -e CMD...` prints (None when it times out)."""
    argv = [mkdbg, "--json", "-c", image]
    for c in cmds:
        argv += ["-e", c]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return p.stdout.decode("utf-8", "replace").splitlines()


def mkdbg_json(mkdbg, image, cmds, timeout):
    """One decoded object per line mkdbg printed, None for a line that is not JSON (None for the
    whole list when mkdbg times out)."""
    lines = mkdbg_lines(mkdbg, image, cmds, timeout)
    if lines is None:
        return None
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(None)
    return out


def mkdbg_by_key(mkdbg, image, keyed, timeout):
    """{key: JSON object} for (key, command) pairs; a missing or garbled answer is an error object."""
    lines = mkdbg_lines(mkdbg, image, [c for _, c in keyed], timeout) or []
    out = {}
    for (key, _), line in zip(keyed, lines):
        try:
            out[key] = json.loads(line)
        except ValueError:
            out[key] = {"ok": False, "error": "not JSON: " + line[:200]}
    for key, _ in keyed:
        out.setdefault(key, {"ok": False, "error": "no output from mkdbg"})
    return out


def answered_dumps(args, script, image, drgn_image, vmlinux, default_image, missing):
    """(mkdbg image, drgn image, drgn's answers from SCRIPT) per dump; MISSING(mkdbg image, drgn
    image, drgn's error) for a dump drgn could not answer for."""
    from images import answers_from_drgn, dump_pairs
    for mk_image, dr_image in dump_pairs(args, image, drgn_image, default_image):
        want, drgn_error = answers_from_drgn(args, script, dr_image, vmlinux)
        if want is None:
            missing(mk_image, dr_image, drgn_error)
            continue
        yield mk_image, dr_image, want


class Unanswered:
    """MISSING for answered_dumps: counts the dumps and prints each as a failure of KIND."""

    def __init__(self, kind):
        self.kind = kind
        self.count = 0

    def __call__(self, mk_image, dr_image, error):
        self.count += 1
        print("FAIL [%s] on %s\n  drgn could not answer: %s" % (self.kind, mk_image, error))


def field_diff(got, want, fields):
    """None when GOT has WANT's value for each of FIELDS, else what differs."""
    return "; ".join("%s mkdbg %r drgn %r" % (f, got.get(f), want[f]) for f in fields if got.get(f) != want[f]) or None


def check_listed(check, kind, mine, wants, key, fields, name, extra_name, lists="mkdbg lists ",
                 listed=lambda key, item: str(key)):
    """CHECK(KIND, NAME(w), problem) for each of drgn's WANTS against mkdbg's item of MINE with the
    same KEY, on FIELDS; then CHECK(KIND, EXTRA_NAME, ...) that mkdbg lists nothing drgn does not
    (LISTED(key, item) names such an item)."""
    by_key = {m[key]: m for m in mine}
    for w in wants:
        g = by_key.get(w[key])
        check(kind, name(w), "not listed by mkdbg" if g is None else field_diff(g, w, fields))
    extra = sorted(set(by_key) - {w[key] for w in wants})
    check(kind, extra_name, (lists + ", ".join(listed(a, by_key[a]) for a in extra)) if extra else None)


class Tally:
    """{kind: [passed, failed]}; check() counts one result and prints it when it failed."""

    def __init__(self, kinds):
        self.stats = {k: [0, 0] for k in kinds}

    def unanswered(self, kind):
        """MISSING for answered_dumps: one failure of KIND per dump drgn could not answer for."""
        return lambda mk_image, dr_image, error: self.check(kind, "drgn on %s" % dr_image, "drgn could not answer: " + error)

    def check(self, kind, name, problem):
        if problem is None:
            self.stats[kind][0] += 1
        else:
            self.stats[kind][1] += 1
            print("FAIL [%s] %s\n  %s" % (kind, name, problem))


def cmd_run(args, run_checks, label):
    """A module's own `run`: RUN_CHECKS over the dumps, its by-kind counts, 0 when all passed."""
    import parity
    image = os.path.abspath(args.image)
    drgn_image = os.path.abspath(args.drgn_image or image)
    vmlinux = args.vmlinux or parity.find_vmlinux(drgn_image)
    stats = run_checks(args, image, drgn_image, vmlinux, parity.DEFAULT_IMAGE)
    print("%s: by kind: " % label + ", ".join("%s %d/%d" % (k, s[0], s[0] + s[1]) for k, s in stats.items()))
    passed = sum(s[0] for s in stats.values())
    failed = sum(s[1] for s in stats.values())
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main(doc, answers, run=None, tools=()):
    """The command line: `answers --image --vmlinux` dumps ANSWERS(image, vmlinux) as JSON; RUN
    ((run_checks, label)) adds `run`; TOOLS ((name, [extra required options], fn(args))) add
    subcommands whose result is dumped as JSON."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("answers")
    s.add_argument("--image", required=True)
    s.add_argument("--vmlinux", required=True)
    for name, options, _ in tools:
        t = sub.add_parser(name)
        t.add_argument("--image", required=True)
        t.add_argument("--vmlinux", required=True)
        for o in options:
            t.add_argument(o, required=True)
    if run is not None:
        r = sub.add_parser("run")
        r.add_argument("--image", default=os.path.expanduser("~/.cache/mkdbg/lab/fixtures/running/vmcore.elf"))
        r.add_argument("--drgn-image", default=None)
        r.add_argument("--vmlinux", default=None)
        r.add_argument("--mkdbg", default=os.environ.get("MKDBG") or os.path.join(ROOT, ".build", "debug", "mkdbg"))
        r.add_argument("--venv-python", required=True)
        r.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    if args.cmd == "answers":
        json.dump(answers(args.image, args.vmlinux), sys.stdout)
    elif args.cmd == "run":
        sys.exit(cmd_run(args, *run))
    else:
        json.dump(dict((n, fn) for n, _, fn in tools)[args.cmd](args), sys.stdout)
