#!/usr/bin/env python3
"""vtop and struct parity: mkdbg's `vtop` and `struct` against drgn.

Used by scripts/paritykit/parity.py's `run` ("vtop" and "struct" in the by-kind line);
on its own:

  parity_vtop.py answers --image P --vmlinux P     (needs drgn)
      drgn's answers, JSON on stdout.

vtop: 100 addresses, the same on every run (a seeded generator): 50 in the direct map
(page_offset_base + a physical address inside one of memblock's memory regions) and 50
in the kernel image (between _text and _end), and up to 20 in vmalloc'd task stacks (4 KiB
pages, so the walk reaches the PTE level). Each is one check: mkdbg's `vtop` physical
address must be drgn's follow_phys(init_mm, addr). An address drgn cannot translate must
fail in mkdbg too.

struct: for every task drgn's for_each_task lists, `struct task_struct.pid,comm TASK`
(pid and comm, one check each) and `struct list_head TASK->tasks -c 1` (next and prev,
one check each); and `struct -o task_struct.pid,comm` against drgn's offsetof.
"""

import random

from checks import Unanswered, answered_dumps, main, mkdbg_json  # noqa: E402 (paritykit is on the path)
from gdb_output import parse_gdb_string, parse_int  # noqa: E402

SEED = 12
DIRECT = 50
TEXT = 50
STACKS = 20


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.mm import follow_phys
    from drgn.helpers.linux.pid import for_each_task
    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])
    rng = random.Random(SEED)
    mem = prog["memblock"].memory
    regions = [(int(mem.regions[i].base), int(mem.regions[i].size)) for i in range(int(mem.cnt))]
    from checks import direct_map_base
    base = direct_map_base(prog)
    addrs = []
    for _ in range(DIRECT):
        b, size = rng.choice(regions)
        addrs.append(("direct", base + b + rng.randrange(size)))
    lo, hi = prog.symbol("_text").address, prog.symbol("_end").address
    if hi < lo:  # drgn 0.3.0 leaves arm64's _end (a linker-script symbol) at its link address
        from images import vmcoreinfo_of_elf
        info = dict(l.split("=", 1) for l in (vmcoreinfo_of_elf(image) or "").splitlines() if "=" in l)
        hi += int(info.get("KERNELOFFSET", "0"), 16)
    for _ in range(TEXT):
        addrs.append(("text", rng.randrange(lo, hi)))
    # And some vmalloc'd task stacks (VMAP_STACK): 4 KiB pages, all four levels walked.
    stacks = sorted(t.stack.value_() for t in for_each_task(prog))
    for s in rng.sample(stacks, min(STACKS, len(stacks))):
        addrs.append(("stack", s + rng.randrange(16384)))
    init_mm = prog["init_mm"].address_of_()
    vtop = []
    for kind, a in addrs:
        try:
            vtop.append({"kind": kind, "address": a, "physical": int(follow_phys(init_mm, a))})
        except Exception as e:
            vtop.append({"kind": kind, "address": a, "error": "%s: %s" % (type(e).__name__, e)})
    tasks = []
    for t in for_each_task(prog):
        tasks.append({"task": t.value_(), "pid": int(t.pid), "comm": t.comm.string_().decode("latin-1"),
                      "next": int(t.tasks.next), "prev": int(t.tasks.prev),
                      "tasks": t.tasks.address_of_().value_()})
    task_type = prog.type("struct task_struct")
    offsets = {"pid": drgn.offsetof(task_type, "pid"), "comm": drgn.offsetof(task_type, "comm")}
    return {"vtop": vtop, "tasks": tasks, "offsets": offsets}


def mkdbg_answers(args, image, cmds):
    """One JSON object per command (None where mkdbg gave none), from one mkdbg run."""
    out = mkdbg_json(args.mkdbg, image, cmds, args.timeout) or []
    return out + [None] * (len(cmds) - len(out))


def members_of(answer):
    """{name: value text} of a `struct` answer's first object."""
    objs = (answer or {}).get("objects") or [{}]
    return {m["name"]: m["value"] for m in objs[0].get("members", [])}


def check_vtop(args, mk_image, want):
    passed = failed = 0
    gots = mkdbg_answers(args, mk_image, ["vtop %#x" % w["address"] for w in want["vtop"]])
    for w, got in zip(want["vtop"], gots):
        name = "vtop %#x (%s) on %s" % (w["address"], w["kind"], mk_image)
        ok = (got or {}).get("ok")
        if "error" in w:
            if ok:
                failed += 1
                print("FAIL [vtop] %s\n  mkdbg: %s\n  drgn:  %s" % (name, got.get("physical"), w["error"]))
            else:
                passed += 1
            continue
        phys = int(got["physical"], 16) if ok else None
        if phys == w["physical"]:
            passed += 1
        else:
            failed += 1
            print("FAIL [vtop] %s\n  mkdbg: %s\n  drgn:  %#x" % (
                name, "%#x" % phys if phys is not None else (got or {}).get("error", "no answer"), w["physical"]))
    kinds = {}
    for w in want["vtop"]:
        kinds[w["kind"]] = kinds.get(w["kind"], 0) + 1
    print("parity: vtop on %s: %d of %d addresses agree (%s)" % (
        mk_image, passed, passed + failed, ", ".join("%d %s" % (n, k) for k, n in sorted(kinds.items()))))
    return passed, failed


def check_struct(args, mk_image, want):
    passed = failed = 0
    cmds = ["struct -o task_struct.pid,comm"]
    for t in want["tasks"]:
        cmds += ["struct task_struct.pid,comm %#x" % t["task"], "struct list_head %#x -c 1" % t["tasks"]]
    gots = mkdbg_answers(args, mk_image, cmds)
    problems = []
    layout = {m["name"]: m["offset"] for m in (gots[0] or {}).get("members", [])}
    for member, off in sorted(want["offsets"].items()):
        if layout.get(member) == off:
            passed += 1
        else:
            problems.append("struct -o task_struct.%s: mkdbg %s, drgn %d" % (member, layout.get(member), off))
    for i, t in enumerate(want["tasks"]):
        m = members_of(gots[1 + 2 * i])
        pid = parse_int(m.get("pid", ""))
        try:
            comm = parse_gdb_string(m["comm"])[0].split(b"\0")[0].decode("latin-1") if "comm" in m else None
        except ValueError:
            comm = None
        link = (gots[2 + 2 * i] or {}).get("objects") or [{}]
        value = link[0].get("value", "")
        fields = {}
        for line in value.splitlines():
            line = line.strip().rstrip(",")
            if " = " in line:
                k, v = line.split(" = ", 1)
                fields[k] = parse_int(v)
        for what, got, exp in (("pid", pid, t["pid"]), ("comm", comm, t["comm"]),
                               ("tasks.next", fields.get("next"), t["next"]),
                               ("tasks.prev", fields.get("prev"), t["prev"])):
            if got == exp:
                passed += 1
            else:
                problems.append("task %#x %s: mkdbg %r, drgn %r" % (t["task"], what, got, exp))
    for p in problems:
        print("FAIL [struct] on %s: %s" % (mk_image, p))
    failed += len(problems)
    print("parity: struct on %s: %d of %d values agree (%d tasks)" % (
        mk_image, passed, passed + failed, len(want["tasks"])))
    return passed, failed


def run_vtop_checks(args, image, drgn_image, vmlinux, default_image):
    """{"vtop": [passed, failed], "struct": [passed, failed]} over the dumps."""
    out = {"vtop": [0, 0], "struct": [0, 0]}
    missing = Unanswered("vtop")
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        for kind, check in (("vtop", check_vtop), ("struct", check_struct)):
            p, f = check(args, mk_image, want)
            out[kind][0] += p
            out[kind][1] += f
    out["vtop"][1] += missing.count
    return out


if __name__ == "__main__":
    main(__doc__, drgn_answers)
