#!/usr/bin/env python3
"""Parity suite: asks mkdbg and drgn the same questions about one kernel dump.

Subcommands (scripts/parity is the entry point and picks the interpreter):

  run       [--image P] [--vmlinux P] [--mkdbg BIN] [--questions F] [--venv-python PY]
            the suite: mkdbg under this interpreter (stdlib only), drgn in a child
            process under --venv-python; prints each failure and "N passed, M failed".
  answers   --image P --vmlinux P [--questions F]     (needs drgn)
            drgn's answers as JSON on stdout.
  generate  --image P --vmlinux P [--questions F]     (needs drgn)
            (re)writes the question list; run once, the result is committed as data.
  log-answers --image P --vmlinux P                   (needs drgn)
            drgn's kernel log (get_printk_records, checked against get_dmesg) as the
            lines mkdbg's `log` must print, JSON on stdout.

Besides the questions, `run` checks mkdbg's `log` against drgn's get_dmesg() on
each dump (one question per dump, "log" in the by-kind line): the lab's running
and panicked dumps when --image is the default, else --image alone (drgn reading
--drgn-image). Line for line, with dmesg's rule for a record whose text holds
newlines (every line gets the record's timestamp; drgn's get_dmesg leaves the
later lines bare) and mkdbg's escaping of control bytes and invalid UTF-8 as \\xNN.

And `bt` against drgn's prog.stack_trace() on the same dumps: every CPU's current
task and some sleeping ones, one check per task ("bt" in the by-kind line; what is
compared is described in scripts/paritykit/parity_bt.py). And, for the same tasks,
every register drgn's registers() reports in each frame against `info registers` in
that frame ("regs": one check per register; scripts/paritykit/parity_regs.py). And `bt full`'s
arguments and locals against drgn's frame locals, one check per variable ("locals"; see
scripts/paritykit/parity_locals.py).

And `vtop` of 100 seeded direct-map and kernel-image addresses (and 20 in task stacks) against drgn's
follow_phys(init_mm, addr) ("vtop": one check per address), and `struct` of every task's
pid, comm and tasks links, and `struct -o` offsets, against drgn's objects ("struct";
scripts/paritykit/parity_vtop.py).

And `ps`, `mod`, `per_cpu current_task` and `sys` against drgn's for_each_task() (plus
idle_task()), for_each_module(), per_cpu() and panic_task()/panic_message() on the same
dumps: one check per task and per module ("ps", "mod", "per_cpu", "sys" in the by-kind
line; scripts/paritykit/parity_ps.py describes what is compared).

And `vm` and `files` of every task against drgn's for_each_vma(), for_each_file() and
d_path() ("vm", "files": one check per VMA and per descriptor; scripts/paritykit/parity_vm.py).

And `runq` against drgn's cpu_curr() and the CFS timeline per CPU ("runq";
scripts/paritykit/parity_runq.py).
And `kmem -s` against drgn's slab_cache_usage() per cache ("kmem"; scripts/paritykit/parity_kmem.py).
And `kmem -S CACHE` and `kmem ADDR` against drgn's slab_cache_for_each_allocated_object(),
slab_object_info(), find_containing_slab_cache(), identify_address_all() and for_each_vmap_area()
("kmem -S", "kmem addr"; scripts/paritykit/parity_slab.py).

And `timer` against drgn's walk of each CPU's timer wheels and hrtimer queues ("timer";
scripts/paritykit/parity_timer.py). And `sig` of the lab's tasks against their sighand and
sigsets as drgn reads them ("sig"; scripts/paritykit/parity_sig.py). And `dev` against drgn's
walk of chrdevs[] and major_names[] ("dev"; scripts/paritykit/parity_dev.py). And `waitq` on the
wait queues of the FIFO the lab's workers poll ("waitq"; scripts/paritykit/parity_waitq.py). And
`vm -p` of the lab's processes against drgn's follow_phys(mm, page) ("vm -p"; parity_vmp.py). And
`foreach bt` against drgn's stack_trace() of every task ("foreach"; parity_foreach.py). And
`search` for the kmsg marker and init_task's address against a scan of the dump file ("search";
parity_search.py). And `tree` on maple trees (mm_mt), rbtrees (hrtimer queues) and an xarray (a page
cache) against drgn's mt_for_each, rbtree_inorder_for_each_entry and xa_for_each ("tree"; parity_tree.py).
And `mount`, `irq` and `net` against drgn's for_each_mount()/mount_*(), for_each_irq_desc()/irq_desc_*()
and for_each_net()/for_each_netdev() ("mount", "irq", "net"; scripts/paritykit/parity_mni.py).
And `net -s` of every task against drgn's for_each_file()/SOCKET_I() and the socks' fields ("net -s";
parity_sock.py), `ipcs` against idr_for_each() over init_ipc_ns.ids[] ("ipcs"; parity_ipcs.py), and
`swap` against drgn's reading of swap_info[] and d_path() ("swap"; parity_swap.py).

A question is structured; questions.py derives the mkdbg command and the drgn
evaluation from it (generate.py makes the lists: questions.json from 6.1, questions-6.12.json from 6.12,
questions-6.1-arm64.json from arm64 6.1; run picks the dump's by release and architecture):

  {"kind": "global",   "name": N}             p/x N            prog[N]
  {"kind": "sizeof",   "type": T}             p sizeof(T)      sizeof(prog.type(T))
  {"kind": "offsetof", "type": T, "member": M} p offsetof(T, M) offsetof(prog.type(T), M)
  {"kind": "enum",     "name": E, "type": T}  p/d E            T's enumerator E, and prog[E]
  {"kind": "string",   "expr": X, "drgn": PY} p X              eval(PY).string_()
  {"kind": "expr",     "expr": X, "fmt": F, "drgn": PY}
                                              p/F X            eval(PY)

Integers are compared exactly as gdb would print them: p/x (and sizeof,
offsetof) as the unsigned value of the result type's width, p/d as the signed
value of that width (gdb's /d is signed whatever the type); the result type is
drgn's (a plain Python int counts as unsigned long, a Python bool as int). Strings compare the bytes before the first NUL: mkdbg's gdb-style char
array syntax ("abc", '\\000' <repeats 59 times>) is parsed back into bytes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, HERE)
from gdb_output import ANSWER, parse_gdb_string, parse_int  # noqa: E402
from images import DEFAULT_IMAGE, drgn_program, find_vmlinux, vmcoreinfo_of_elf  # noqa: E402,F401 (bench, parity_ps)
from parity_log import cmd_log_answers, run_log_checks  # noqa: E402
from questions import DEFAULT_QUESTIONS, cmd_answers, load_questions, mkdbg_command, questions_for_image  # noqa: E402

MARK = "@@Q"


def run_mkdbg(mkdbg, image, questions, timeout):
    """Runs the questions in one mkdbg process, restarting after a crash.
    Returns {index: (answer text or None, output lines)}."""
    results = {}
    todo = list(range(len(questions)))
    restarts = 0
    while todo:
        script = "".join("echo %s%d\n%s\n" % (MARK, i, mkdbg_command(questions[i])) for i in todo)
        try:
            p = subprocess.run([mkdbg, "-c", image], input=script.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode("utf-8", "replace"), "timeout after %ds" % timeout
        seen = []
        segments = {}
        preamble = []
        cur = None
        for line in out.splitlines():
            if line.startswith(MARK) and line[len(MARK):].isdigit():
                cur = int(line[len(MARK):])
                seen.append(cur)
                segments[cur] = []
            elif cur is None:
                preamble.append(line)
            else:
                segments[cur].append(line)
        for i, lines in segments.items():
            ans = next((m.group(1) for m in map(ANSWER.match, lines) if m), None)
            results[i] = (ans, lines)
        if not seen:
            why = "mkdbg printed no marker (does it know `echo`?), exit %s" % rc
            print("parity: %s; its first lines:" % why)
            for line in preamble[:6]:
                print("  " + line)
            for i in todo:
                results[i] = (None, [why])
            break
        if seen[-1] == todo[-1]:
            break
        # mkdbg stopped early: the last question it started is blamed, the rest re-run.
        last = seen[-1]
        how = ("killed by signal %d" % -rc) if isinstance(rc, int) and rc < 0 else "exit %s" % rc
        results[last] = (None, segments[last] + ["mkdbg ended here (%s)" % how])
        todo = todo[todo.index(last) + 1:]
        restarts += 1
        if restarts > 50:
            for i in todo:
                results[i] = (None, ["not run: mkdbg crashed more than 50 times"])
            break
    return results, restarts


# --------------------------------------------------------------------------- comparison

def compare(q, drgn_ans, mk):
    """None when equal, else (mkdbg answer, drgn answer, note)."""
    ans, lines = mk
    if "error" in drgn_ans:
        return (ans, "error: " + drgn_ans["error"], "drgn could not answer")
    if ans is None:
        tail = [l for l in lines if l.strip()][-5:]
        return ("(no answer)", show_drgn(drgn_ans), "mkdbg output: " + (" | ".join(tail) or "(nothing)"))
    if "str" in drgn_ans:
        want = bytes.fromhex(drgn_ans["str"])
        try:
            got, truncated = parse_gdb_string(ans)
        except (ValueError, IndexError) as e:
            return (ans, show_drgn(drgn_ans), "unparsable string: %s" % e)
        got = got.split(b"\0", 1)[0]
        if truncated and len(got) < len(want):
            want = want[:len(got)]
        return None if got == want else (ans, show_drgn(drgn_ans), "")
    v = parse_int(ans)
    if v is None:
        return (ans, show_drgn(drgn_ans), "not an integer")
    # gdb's rules: /x prints the value's bytes unsigned, /d signed, at the type's width;
    # sizeof and offsetof (natural format) are unsigned long.
    size = drgn_ans["size"]
    want = drgn_ans["int"]
    if mkdbg_command(q).startswith("p/d ") and want >> (8 * size - 1):
        want -= 1 << (8 * size)
    if v == want:
        return None
    mask = (1 << (8 * size)) - 1
    note = "expected %d" % want if want < 0 else "expected %#x" % want
    if (v & mask) == (want & mask):
        note += "; equal modulo 2^%d: wrong width or sign" % (8 * size)
    return (ans, show_drgn(drgn_ans), note)


def show_drgn(a):
    if "str" in a:
        return json.dumps(bytes.fromhex(a["str"]).decode("latin-1"))
    if "int" in a:
        v, size = a["int"], a["size"]
        signed = v - (1 << (8 * size)) if v >> (8 * size - 1) else v
        return "%#x (%d; %d bytes)" % (v, signed, size) if signed != v else "%#x (%d; %d bytes)" % (v, v, size)
    return str(a)


def announce(args, image, drgn_image, vmlinux, questions):
    print("parity: %d questions (%s); image %s; vmlinux %s" % (len(questions), os.path.basename(args.questions), image, vmlinux))
    if drgn_image != image:
        print("parity: drgn reads %s" % drgn_image)
    print("parity: mkdbg %s (built %s); drgn via %s" % (
        args.mkdbg, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(args.mkdbg))),
        args.venv_python))


def ask_both(args, image, drgn_image, vmlinux, questions):
    """drgn's answers (a child process under --venv-python) and mkdbg's, asked at the same time;
    returns (drgn answers, mkdbg results, mkdbg restarts, mkdbg seconds)."""
    with tempfile.TemporaryFile() as drgn_out:
        drgn_proc = subprocess.Popen(
            [args.venv_python, os.path.abspath(__file__), "answers", "--image", drgn_image,
             "--vmlinux", vmlinux, "--questions", args.questions], stdout=drgn_out)
        t_mk = time.time()
        mk, restarts = run_mkdbg(args.mkdbg, image, questions, args.timeout)
        t_mk = time.time() - t_mk
        if drgn_proc.wait() != 0:
            sys.exit("parity: the drgn side failed (exit %d)" % drgn_proc.returncode)
        drgn_out.seek(0)
        return json.load(drgn_out), mk, restarts, t_mk


def check_questions(questions, drgn_answers, mk, skip=()):
    """Prints each failed question; returns {kind: [passed, failed]} (none for the kinds in skip)."""
    by_kind = {}
    for i, q in enumerate(questions):
        if q["kind"] in skip:
            continue
        bad = compare(q, drgn_answers[i], mk.get(i, (None, ["no output"])))
        stats = by_kind.setdefault(q["kind"], [0, 0])
        if bad is None:
            stats[0] += 1
            continue
        stats[1] += 1
        got, want, note = bad
        print("FAIL Q%d [%s] %s" % (i, q["kind"], mkdbg_command(q)))
        print("  mkdbg: %s" % got)
        print("  drgn:  %s" % want)
        if note:
            print("  %s" % note)
    return by_kind


def check_commands(args, image, drgn_image, vmlinux):
    """log, bt, regs, vtop, struct, ps, mod, per_cpu and sys against drgn, unless skipped; returns {kind: [passed, failed]}."""
    by_kind = {}
    if not args.no_log:  # `log` against drgn's get_dmesg(): scripts/paritykit/parity_log.py
        by_kind["log"] = list(run_log_checks(args, image, drgn_image, vmlinux))
    if not args.no_bt:  # `bt` against drgn's stack_trace(): scripts/paritykit/parity_bt.py
        import parity_bt
        by_kind["bt"] = list(parity_bt.run_bt_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_regs:  # `info registers` per frame against drgn's registers(): scripts/paritykit/parity_regs.py
        import parity_regs
        by_kind["regs"] = list(parity_regs.run_regs_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_locals:  # `bt full` variables against drgn's frame locals: scripts/paritykit/parity_locals.py
        import parity_locals
        by_kind["locals"] = list(parity_locals.run_locals_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_vtop:  # vtop against drgn's follow_phys, struct against its objects: scripts/paritykit/parity_vtop.py
        import parity_vtop
        by_kind.update(parity_vtop.run_vtop_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_ps:  # ps, mod, per_cpu, sys against drgn: scripts/paritykit/parity_ps.py
        import parity_ps
        for kind, (kp, kf) in parity_ps.run_ps_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE).items():
            by_kind[kind] = [kp, kf]
    if not args.no_vm:  # vm, files against drgn's for_each_vma/for_each_file/d_path: scripts/paritykit/parity_vm.py
        import parity_vm
        for kind, (kp, kf) in parity_vm.run_vm_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE).items():
            by_kind[kind] = [kp, kf]
    if not args.no_runq:  # runq against drgn's cpu_curr and the CFS rbtree: scripts/paritykit/parity_runq.py
        import parity_runq
        by_kind.update(parity_runq.run_runq_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_timer:  # timer against drgn's walk of timer_bases and hrtimer_bases: scripts/paritykit/parity_timer.py
        import parity_timer
        by_kind.update(parity_timer.run_timer_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_sig:  # sig against drgn's reading of sighand and the sigsets: scripts/paritykit/parity_sig.py
        import parity_sig
        by_kind.update(parity_sig.run_sig_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_dev:  # dev against drgn's walk of chrdevs and major_names: scripts/paritykit/parity_dev.py
        import parity_dev
        by_kind.update(parity_dev.run_dev_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_waitq:  # waitq against drgn's list_for_each_entry on wait queues: scripts/paritykit/parity_waitq.py
        import parity_waitq
        by_kind.update(parity_waitq.run_waitq_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_vmp:  # vm -p against drgn's follow_phys per page: scripts/paritykit/parity_vmp.py
        import parity_vmp
        by_kind.update(parity_vmp.run_vmp_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_foreach:  # foreach bt against drgn's stack_trace of every task: scripts/paritykit/parity_foreach.py
        import parity_foreach
        by_kind.update(parity_foreach.run_foreach_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_search:  # search against a scan of the dump file: scripts/paritykit/parity_search.py
        import parity_search
        by_kind.update(parity_search.run_search_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_tree:  # tree against drgn's maple, rbtree and xarray helpers: scripts/paritykit/parity_tree.py
        import parity_tree
        by_kind.update(parity_tree.run_tree_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_mni:  # mount, irq, net against drgn's fs, irq and net helpers: scripts/paritykit/parity_mni.py
        import parity_mni
        by_kind.update(parity_mni.run_mni_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_kmem:  # kmem -s against drgn's for_each_slab_cache/slab_cache_usage: scripts/paritykit/parity_kmem.py
        import parity_kmem
        by_kind.update(parity_kmem.run_kmem_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_sock:  # net -s against drgn's for_each_file/SOCKET_I: scripts/paritykit/parity_sock.py
        import parity_sock
        by_kind.update(parity_sock.run_sock_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_ipcs:  # ipcs against drgn's idr_for_each over init_ipc_ns.ids[]: scripts/paritykit/parity_ipcs.py
        import parity_ipcs
        by_kind.update(parity_ipcs.run_ipcs_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_swap:  # swap against drgn's reading of swap_info[]: scripts/paritykit/parity_swap.py
        import parity_swap
        by_kind.update(parity_swap.run_swap_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    if not args.no_slab:  # kmem -S and kmem ADDR against drgn's slab and identify helpers: scripts/paritykit/parity_slab.py
        import parity_slab
        by_kind.update(parity_slab.run_slab_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE))
    return by_kind


def cmd_run(args):
    t0 = time.time()
    image = os.path.abspath(args.image)
    if not os.path.exists(image):
        sys.exit("parity: no image %s (run scripts/lab fixtures)" % image)
    drgn_image = os.path.abspath(args.drgn_image or image)
    vmlinux = args.vmlinux or find_vmlinux(drgn_image)
    args.questions = args.questions or questions_for_image(drgn_image)
    questions = load_questions(args.questions)
    if args.no_debuginfo:
        # BTF types every struct, union, enum and typedef but few globals, and DWARF alone has locals.
        os.environ["MKDBG_NO_DEBUGINFO"] = "1"
        args.no_locals = True
        args.no_regs = True  # callee-saved registers come from the vmlinux's CFI
        print("parity: mkdbg without debug info (MKDBG_NO_DEBUGINFO=1); drgn with %s" % vmlinux)
    if not os.access(args.mkdbg, os.X_OK):
        sys.exit("parity: no mkdbg binary at %s (swift build, or pass --mkdbg)" % args.mkdbg)
    announce(args, image, drgn_image, vmlinux, questions)
    drgn_answers, mk, restarts, t_mk = ask_both(args, image, drgn_image, vmlinux, questions)
    by_kind = check_questions(questions, drgn_answers, mk, skip=("global",) if args.no_debuginfo else ())
    by_kind.update(check_commands(args, image, drgn_image, vmlinux))
    passed = sum(s[0] for s in by_kind.values())
    failed = sum(s[1] for s in by_kind.values())
    print("parity: by kind: " + ", ".join("%s %d/%d" % (k, s[0], s[0] + s[1]) for k, s in by_kind.items()))
    print("parity: mkdbg %.1fs (%d restart%s), total %.1fs" % (
        t_mk, restarts, "" if restarts == 1 else "s", time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "answers", "generate", "log-answers"):
        s = sub.add_parser(name)
        s.add_argument("--image", default=DEFAULT_IMAGE)
        s.add_argument("--vmlinux", default=None)
        # run: by default the list for the dump's kernel line (questions_for_image)
        s.add_argument("--questions", default=None if name == "run" else DEFAULT_QUESTIONS)
        if name == "run":
            s.add_argument("--mkdbg", default=os.path.join(ROOT, ".build", "debug", "mkdbg"))
            s.add_argument("--venv-python", default=sys.executable)
            s.add_argument("--timeout", type=int, default=600)
            s.add_argument("--drgn-image", default=None,
                           help="the dump drgn reads (default: --image); e.g. the ELF twin of a kdump")
            s.add_argument("--no-debuginfo", action="store_true",
                           help="mkdbg without the vmlinux (kallsyms, BTF, ORC from memory; MKDBG_NO_DEBUGINFO=1), "
                                "drgn with it; skips what needs DWARF: the typed-globals questions and frame locals")
            s.add_argument("--no-log", action="store_true", help="skip the `log` checks against drgn's get_dmesg()")
            s.add_argument("--no-bt", action="store_true", help="skip the `bt` checks against drgn's stack_trace()")
            s.add_argument("--no-regs", action="store_true",
                           help="skip the per-frame register checks against drgn (scripts/paritykit/parity_regs.py)")
            s.add_argument("--no-locals", action="store_true",
                           help="skip the frame-variable checks against drgn (scripts/paritykit/parity_locals.py)")
            s.add_argument("--no-vtop", action="store_true",
                           help="skip the vtop and struct checks against drgn (scripts/paritykit/parity_vtop.py)")
            s.add_argument("--no-ps", action="store_true",
                           help="skip the ps/mod/per_cpu/sys checks against drgn (scripts/paritykit/parity_ps.py)")
            s.add_argument("--no-vm", action="store_true",
                           help="skip the vm/files checks against drgn (scripts/paritykit/parity_vm.py)")
            s.add_argument("--no-runq", action="store_true",
                           help="skip the runq checks against drgn (scripts/paritykit/parity_runq.py)")
            s.add_argument("--no-timer", action="store_true",
                           help="skip the timer checks against drgn (scripts/paritykit/parity_timer.py)")
            s.add_argument("--no-sig", action="store_true",
                           help="skip the sig checks against drgn (scripts/paritykit/parity_sig.py)")
            s.add_argument("--no-dev", action="store_true",
                           help="skip the dev checks against drgn (scripts/paritykit/parity_dev.py)")
            s.add_argument("--no-waitq", action="store_true",
                           help="skip the waitq checks against drgn (scripts/paritykit/parity_waitq.py)")
            s.add_argument("--no-vmp", action="store_true",
                           help="skip the vm -p checks against drgn (scripts/paritykit/parity_vmp.py)")
            s.add_argument("--no-foreach", action="store_true",
                           help="skip the foreach bt checks against drgn (scripts/paritykit/parity_foreach.py)")
            s.add_argument("--no-search", action="store_true",
                           help="skip the search checks against a scan of the dump (scripts/paritykit/parity_search.py)")
            s.add_argument("--no-tree", action="store_true",
                           help="skip the tree checks against drgn (scripts/paritykit/parity_tree.py)")
            s.add_argument("--no-mni", action="store_true",
                           help="skip the mount, irq and net checks against drgn (scripts/paritykit/parity_mni.py)")
            s.add_argument("--no-kmem", action="store_true",
                           help="skip the kmem -s checks against drgn (scripts/paritykit/parity_kmem.py)")
            s.add_argument("--no-sock", action="store_true",
                           help="skip the net -s checks against drgn (scripts/paritykit/parity_sock.py)")
            s.add_argument("--no-ipcs", action="store_true",
                           help="skip the ipcs checks against drgn (scripts/paritykit/parity_ipcs.py)")
            s.add_argument("--no-swap", action="store_true",
                           help="skip the swap checks against drgn (scripts/paritykit/parity_swap.py)")
            s.add_argument("--no-slab", action="store_true",
                           help="skip the kmem -S and kmem ADDR checks against drgn (scripts/paritykit/parity_slab.py)")
    args = ap.parse_args()
    if args.cmd != "run" and args.vmlinux is None:
        args.vmlinux = find_vmlinux(args.image)
    if args.cmd == "run":
        sys.exit(cmd_run(args))
    if args.cmd == "answers":
        cmd_answers(args)
    elif args.cmd == "log-answers":
        cmd_log_answers(args)
    else:
        from generate import cmd_generate
        cmd_generate(args)


if __name__ == "__main__":
    main()
