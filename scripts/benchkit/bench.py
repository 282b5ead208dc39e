#!/usr/bin/env python3
"""Benchmark: mkdbg (cold and warm DWARF index) against drgn 0.3.0, side by side.

Run through scripts/bench, which builds the release binary and finds drgn's venv.
Each case is a function below returning a Case; CASES lists them in the order they
run. A round runs every case once (cold deletes the index first, so warm, which
follows it, finds the freshly built one); one untimed round warms the page cache,
then --runs timed rounds. Time is measured from process start to the moment the
expected answer appears on its standard output; peak RSS comes from GNU time (%M).

To add a case: write `def case_xyz(ctx): return Case(...)` and append it to CASES.
A case may instead return a Throughput: one round of it runs a copy and reports MiB/s
per row, compared with its own baseline (`dump memory` against `dd`).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "paritykit"))
sys.path.insert(0, os.path.join(ROOT, "scripts", "pylib"))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/
import elfread  # noqa: E402  (the scripts' shared ELF reader)
import images  # noqa: E402  (parity's: vmcoreinfo_of_elf, find_vmlinux, DEFAULT_IMAGE)

GNU_TIME = "/usr/bin/time"
DOC = os.path.join(ROOT, "docs", "performance.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


class Case:
    def __init__(self, name, argv, expect, setup=None, target=None, check=None, env=None, baseline=None):
        self.name = name          # row label
        self.argv = argv          # command line
        self.expect = expect      # bytes that must appear on stdout: the answer
        self.setup = setup        # called before every run (untimed)
        self.target = target      # (factor, what) e.g. (0.6, "time"): compared with the baseline
        self.check = check        # called after every run; returns a warning or None
        self.env = env
        self.baseline = baseline  # the row it is compared with (default: BASELINE)


class Throughput:
    """A throughput comparison. run() does one round and returns {row: MiB/s}; the rows
    are compared with the `baseline` row; `target` is (row, factor): row ≥ factor × baseline."""

    def __init__(self, name, rows, baseline, target, run, note=""):
        self.name = name
        self.rows = rows
        self.baseline = baseline
        self.target = target
        self.run = run
        self.note = note


class Context:
    def __init__(self, args):
        self.image = os.path.abspath(args.image)
        self.mkdbg = os.path.abspath(args.mkdbg)
        self.python = args.venv_python
        self.vmlinux = args.vmlinux or images.find_vmlinux(self.image)
        info = images.vmcoreinfo_of_elf(self.image) or ""
        keys = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
        self.build_id = keys.get("BUILD-ID", "").strip().lower()
        self.release = keys.get("OSRELEASE", "").strip()
        if not self.build_id or not self.release:
            sys.exit("bench: no BUILD-ID/OSRELEASE in %s's VMCOREINFO" % self.image)
        self.index = os.path.join(ROOT, "symbols", ".index", self.build_id + ".mkidx")


# --------------------------------------------------------------------------- cases

def drgn_script(image, vmlinux, imports, body):
    """A drgn program: `imports`, then the dump and the vmlinux loaded as `prog`, then `body`."""
    return ("import drgn\n" + imports + "prog = drgn.Program()\n"
            "prog.set_core_dump(%r)\nprog.load_debug_info([%r])\n" % (image, vmlinux) + body)


def wait_for_index_build(ctx, limit=120.0):
    """Waits while a background `mkdbg --build-index` holds the index's lock (a cold
    start leaves one running); returns the seconds waited."""
    import fcntl
    start = time.monotonic()
    os.makedirs(os.path.dirname(ctx.index), exist_ok=True)
    with open(ctx.index + ".lock", "a") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                break
            except BlockingIOError:
                if time.monotonic() - start > limit:
                    break
                time.sleep(0.01)
    return time.monotonic() - start


def case_mkdbg_cold(ctx):
    """A first start: no DWARF index. mkdbg answers from the kernel's BTF and starts the
    index build in a background process; the next run waits for that build to end
    (untimed) before it deletes the index again."""
    def drop_index():
        wait_for_index_build(ctx)
        if os.path.exists(ctx.index):
            os.unlink(ctx.index)

    def index_rebuilt():
        wait_for_index_build(ctx)
        return None if os.path.exists(ctx.index) else "no index at %s after the run and its background build" % ctx.index

    return Case("mkdbg cold (no DWARF index: BTF answers, the index builds in the background)",
                [ctx.mkdbg, "-c", ctx.image, "-e", ctx.mkdbg_command],
                ctx.release.encode(), setup=drop_index, target=(0.6, "time"), check=index_rebuilt)


def case_mkdbg_index_build(ctx):
    """The background build alone (`mkdbg --build-index VMLINUX`): the DIE scanner over
    all of .debug_info, sorting and writing the index file."""
    def drop_index():
        wait_for_index_build(ctx)
        if os.path.exists(ctx.index):
            os.unlink(ctx.index)

    return Case("mkdbg --build-index (the background build alone)",
                [ctx.mkdbg, "--build-index", os.path.realpath(ctx.vmlinux)], b"built in", setup=drop_index)


def case_mkdbg_warm(ctx):
    def need_index():
        return None if os.path.exists(ctx.index) else "ran without an index at %s" % ctx.index

    return Case("mkdbg warm (index present)", [ctx.mkdbg, "-c", ctx.image, "-e", ctx.mkdbg_command],
                ctx.release.encode(), setup=lambda: wait_for_index_build(ctx), target=(0.15, "time"), check=need_index)


def case_drgn(ctx):
    script = drgn_script(ctx.image, ctx.vmlinux, "",
                         ("print(prog['init_uts_ns'].name.release, flush=True)\n"))
    return Case("drgn 0.3.0", [ctx.python, "-c", script], ctx.release.encode())


def elf_loads(path):
    """(p_offset, p_paddr, p_filesz) of an ELF64 core's PT_LOADs."""
    with open(path, "rb") as f:
        return [(ph.offset, ph.paddr, ph.filesz) for ph in elfread.program_headers(f) if ph.type == elfread.PT_LOAD]


DUMP_MIB = 256


def case_dump_throughput(ctx):
    """`dump memory` of 256 MiB of the direct map (physical 0 up) against dd copying the
    same bytes of the ELF file into a file. Both write to a fresh file in the same
    directory (the old one is deleted untimed first: ext4 flushes a file replaced by
    rename or truncation). mkdbg's row is the command's own time (its --json `seconds`:
    open, read, write, rename); the whole-process row adds start-up and the DWARF index."""
    size = DUMP_MIB << 20
    start = [l for l in elf_loads(ctx.image) if l[1] == 0 and l[2] >= size]
    if not start:
        sys.exit("bench: %s has no PT_LOAD at physical 0 of %d MiB" % (ctx.image, DUMP_MIB))
    offset = start[0][0]
    work = tempfile.mkdtemp(prefix="mkdbg-bench-")
    ctx.cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
    dd_out, mk_out = os.path.join(work, "dd.bin"), os.path.join(work, "dump.bin")
    command = "dump memory %s page_offset_base page_offset_base+%#x" % (mk_out, size)
    mib = size / (1 << 20)

    def fresh(path):
        # Untimed: no old file, and no dirty pages of the last copy being written back.
        if os.path.exists(path):
            if os.path.getsize(path) != size:
                raise RuntimeError("%s is %d bytes, expected %d" % (path, os.path.getsize(path), size))
            os.unlink(path)
        os.sync()

    def run_dd():
        fresh(dd_out)
        t0 = time.perf_counter()
        # conv=fsync: mkdbg's dump is an atomic write (fsync, then rename), so both end on disk.
        subprocess.run(["dd", "if=" + ctx.image, "of=" + dd_out, "bs=1M", "iflag=skip_bytes,count_bytes",
                        "skip=%d" % offset, "count=%d" % size, "conv=fsync", "status=none"], check=True)
        return {"dd bs=1M conv=fsync (same file range)": mib / (time.perf_counter() - t0)}

    def run_mkdbg():
        fresh(mk_out)
        t0 = time.perf_counter()
        p = subprocess.run([ctx.mkdbg, "-c", ctx.image, "--json", "-e", command],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc_s = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("mkdbg %r failed: %s%s" % (command, p.stdout.decode(errors="replace"),
                                                         p.stderr.decode(errors="replace")))
        cmd_s = json.loads(p.stdout.decode().splitlines()[-1])["seconds"]
        return {"mkdbg dump memory (command)": mib / cmd_s, "mkdbg dump memory (whole process)": mib / proc_s}

    rounds = [0]

    def one_round():
        # Alternate which goes first, so neither always follows the other's writes.
        rounds[0] += 1
        order = (run_dd, run_mkdbg) if rounds[0] % 2 else (run_mkdbg, run_dd)
        got = {}
        for f in order:
            got.update(f())
        fresh(dd_out)
        fresh(mk_out)
        return got

    return Throughput("dump memory %d MiB" % DUMP_MIB,
                      ["dd bs=1M conv=fsync (same file range)", "mkdbg dump memory (command)", "mkdbg dump memory (whole process)"],
                      "dd bs=1M conv=fsync (same file range)", ("mkdbg dump memory (command)", 0.8), one_round,
                      note="`%s` on the ELF vmcore, against `dd if=vmcore.elf of=FILE bs=1M conv=fsync` of the same "
                           "%d MiB (file offset %#x)" % (command.replace(mk_out, "FILE"), DUMP_MIB, offset))


def log_marker(ctx):
    """The marker line the lab's guest wrote to its kernel log (facts.json beside the image)."""
    facts = os.path.join(os.path.dirname(ctx.image), "facts.json")
    if os.path.exists(facts):
        with open(facts) as f:
            marker = json.load(f).get("marker")
        if marker:
            return marker.encode()
    return b"Linux version " + ctx.release.encode()


LOG_BASELINE = "drgn 0.3.0 get_dmesg() (log)"


def case_mkdbg_log(ctx):
    """`log`, the whole kernel log, warm index, against drgn's get_dmesg(); the answer is the marker line."""
    return Case("mkdbg log (warm)", [ctx.mkdbg, "-c", ctx.image, "-e", "log"], log_marker(ctx),
                target=(0.5, "time"), baseline=LOG_BASELINE)


def case_drgn_dmesg(ctx):
    script = drgn_script(ctx.image, ctx.vmlinux, ("from drgn.helpers.linux.printk import get_dmesg\n"),
                         ("print(get_dmesg(prog).decode(errors='replace'), flush=True)\n"))
    return Case(LOG_BASELINE, [ctx.python, "-c", script], log_marker(ctx), baseline=LOG_BASELINE)


PS_BASELINE = "drgn 0.3.0 for_each_task (ps)"
PS_SCALE_BASELINE = "drgn 0.3.0 for_each_task (ps, +2000 processes)"
PS_DONE = b"PS-DONE"


def scale_image():
    """The dump of a guest running 2,000 extra processes (`scripts/lab fixtures-scale`), or None."""
    lab = os.path.dirname(os.path.dirname(os.path.dirname(images.DEFAULT_IMAGE)))
    path = os.path.join(lab, "fixtures-scale", "scale-2000", "vmcore.elf")
    return path if os.path.exists(path) else None


def ps_cases(ctx, image, label, baseline):
    """mkdbg `ps` (warm index; every task printed, then a marker) against drgn's for_each_task()
    printing each task's pid and comm."""
    script = drgn_script(image, ctx.vmlinux, ("from drgn.helpers.linux.pid import for_each_task\n"),
                         ("for t in for_each_task(prog):\n"
              "    print(t.pid.value_(), t.comm.string_().decode())\n"
              "print('PS-DONE', flush=True)\n"))
    return (Case("mkdbg ps (warm%s)" % label, [ctx.mkdbg, "-c", image, "-e", "ps", "-e", "echo PS-DONE"], PS_DONE,
                 target=(0.5, "time"), baseline=baseline),
            Case(baseline, [ctx.python, "-c", script], PS_DONE, baseline=baseline))


def case_mkdbg_ps(ctx):
    return ps_cases(ctx, ctx.image, "", PS_BASELINE)[0]


def case_drgn_ps(ctx):
    return ps_cases(ctx, ctx.image, "", PS_BASELINE)[1]


def case_mkdbg_ps_nodebug(ctx):
    """`ps` with no debug package (--no-debuginfo: kallsyms, BTF, ORC from the dump) against drgn
    given the vmlinux (issue 13: at most 0.5 x drgn's time, first run)."""
    return Case("mkdbg ps --no-debuginfo", [ctx.mkdbg, "--no-debuginfo", "-c", ctx.image, "-e", "ps", "-e", "echo PS-DONE"],
                PS_DONE, target=(0.5, "time"), baseline=PS_BASELINE)


def case_mkdbg_ps_scale(ctx):
    image = scale_image()
    return ps_cases(ctx, image, ", +2000 processes", PS_SCALE_BASELINE)[0] if image else None


def case_drgn_ps_scale(ctx):
    image = scale_image()
    return ps_cases(ctx, image, ", +2000 processes", PS_SCALE_BASELINE)[1] if image else None


FOREACH_DONE = b"FOREACH-DONE"
FOREACH_BASELINE = "drgn 0.3.0 stack_trace of every task (foreach, +2000 processes)"


def foreach_cases(ctx):
    """`foreach bt` (warm index) on the dump of a guest running 2,000 extra processes against
    drgn printing stack_trace() of every task (issue 12: at most 0.5 x drgn's time)."""
    image = scale_image()
    if not image:
        return None, None
    script = drgn_script(image, ctx.vmlinux, ("from drgn.helpers.linux.pid import for_each_task\n"),
                         ("for t in for_each_task(prog):\n"
              "    try:\n"
              "        trace = prog.stack_trace(t)\n"
              "    except Exception:\n"
              "        continue\n"
              "    print(t.pid.value_(), ' < '.join(f.name or hex(f.pc) for f in trace))\n"
              "print('FOREACH-DONE', flush=True)\n"))
    return (Case("mkdbg foreach bt (warm, +2000 processes)", [ctx.mkdbg, "-c", image, "-e", "foreach bt", "-e", "echo FOREACH-DONE"],
                 FOREACH_DONE, target=(0.5, "time"), baseline=FOREACH_BASELINE),
            Case(FOREACH_BASELINE, [ctx.python, "-c", script], FOREACH_DONE, baseline=FOREACH_BASELINE))


def case_mkdbg_foreach(ctx):
    return foreach_cases(ctx)[0]


def case_drgn_foreach(ctx):
    return foreach_cases(ctx)[1]


SEARCH_DONE = b"SEARCH-DONE"
SEARCH_BASELINE = "grep -a -c over the dump file (search)"


def search_cases(ctx):
    """`search -c` of the guest's marker prefix over all of RAM against `grep -a -c` over the dump
    file (issue 12: at least 0.5 x grep's speed, i.e. at most 2 x its time; and >= 1 GB/s)."""
    grep = "LC_ALL=C grep -a -c MKDBG-MARKER %s; echo SEARCH-DONE" % ctx.image
    return (Case("mkdbg search -c (whole direct map)", [ctx.mkdbg, "-c", ctx.image, "-e", "search -m 100000 -c MKDBG-MARKER",
                                                        "-e", "echo SEARCH-DONE"],
                 SEARCH_DONE, target=(2.0, "time"), baseline=SEARCH_BASELINE),
            Case(SEARCH_BASELINE, ["sh", "-c", grep], SEARCH_DONE, baseline=SEARCH_BASELINE))


def case_mkdbg_search(ctx):
    return search_cases(ctx)[0]


def case_grep_search(ctx):
    return search_cases(ctx)[1]


DIS_DONE = b"DIS-DONE"


def largest_functions(vmlinux, count):
    """The `count` largest functions of the vmlinux's resident text ([_stext, _etext): not
    .init.text, freed after boot), by `nm -S`."""
    out = subprocess.run(["nm", "-S", "--defined-only", vmlinux], capture_output=True, text=True, check=True).stdout
    rows, bounds = [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] in ("_stext", "_etext"):
            bounds[f[2]] = int(f[0], 16)
        if len(f) == 4 and f[2] in "Tt":
            rows.append((int(f[1], 16), int(f[0], 16), f[3]))
    lo, hi = bounds.get("_stext", 0), bounds.get("_etext", 1 << 64)
    names = sorted(((size, name) for size, addr, name in rows if lo <= addr < hi and "." not in name), reverse=True)
    return [name for _, name in names[:count]]


def case_mkdbg_dis(ctx):
    """`dis` of the vmlinux's 100 largest functions (warm index) in one run, from memory; the
    answer is the marker echoed after the last. No baseline: objdump reads the file, not the dump."""
    work = tempfile.mkdtemp(prefix="mkdbg-bench-")
    ctx.cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
    script = os.path.join(work, "dis-100")
    with open(script, "w") as f:
        f.write("".join("dis %s\n" % n for n in largest_functions(ctx.vmlinux, 100)) + "echo DIS-DONE\n")
    name = "mkdbg dis of the 100 largest functions (warm)"
    return Case(name, [ctx.mkdbg, "-c", ctx.image, "-x", script], DIS_DONE, baseline=name)


KMEM_DONE = b"KMEM-DONE"
KMEM_BASELINE = "drgn for_each_slab_cache + slab_cache_usage"


def kmem_cases(ctx):
    """mkdbg `kmem -s` (warm index; every cache with its counts, then a marker) against drgn's
    for_each_slab_cache() printing each cache's name, object_size and slab_cache_usage()."""
    script = drgn_script(ctx.image, ctx.vmlinux, ("from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage\n"),
                         ("for c in for_each_slab_cache(prog):\n"
              "    u = slab_cache_usage(c)\n"
              "    print(c.name.string_().decode(), c.object_size.value_(), u.active_objs, u.num_objs, u.num_slabs)\n"
              "print('KMEM-DONE', flush=True)\n"))
    return (Case("mkdbg kmem -s (warm)", [ctx.mkdbg, "-c", ctx.image, "-e", "kmem -s", "-e", "echo KMEM-DONE"], KMEM_DONE,
                 target=(0.5, "time"), baseline=KMEM_BASELINE),
            Case(KMEM_BASELINE, [ctx.python, "-c", script], KMEM_DONE, baseline=KMEM_BASELINE))


def case_mkdbg_kmem(ctx):
    return kmem_cases(ctx)[0]


def case_drgn_kmem(ctx):
    return kmem_cases(ctx)[1]


CASES = [case_mkdbg_cold, case_mkdbg_warm, case_mkdbg_index_build, case_drgn, case_mkdbg_log, case_drgn_dmesg, case_dump_throughput,
         case_mkdbg_ps, case_mkdbg_ps_nodebug, case_drgn_ps, case_mkdbg_ps_scale, case_drgn_ps_scale, case_mkdbg_dis,
         case_mkdbg_kmem, case_drgn_kmem, case_mkdbg_foreach, case_drgn_foreach, case_mkdbg_search, case_grep_search]
BASELINE = "drgn 0.3.0"


# --------------------------------------------------------------------------- runner

def run_once(case, timeout=300):
    """(seconds to the answer, peak RSS KiB, stdout) of one run."""
    if case.setup:
        case.setup()
    with tempfile.NamedTemporaryFile(mode="r") as rss:
        t0 = time.perf_counter()
        p = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss.name] + case.argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=case.env)
        out = b""
        answered = None
        while True:
            chunk = p.stdout.read1(65536)
            if not chunk:
                break
            out += chunk
            if answered is None and case.expect in out:
                answered = time.perf_counter() - t0
        err = p.stderr.read()
        rc = p.wait(timeout)
        if answered is None:
            raise RuntimeError("%s: no %r in its output (exit %d)\nstdout: %s\nstderr: %s" % (
                case.name, case.expect, rc, out.decode(errors="replace")[-500:],
                err.decode(errors="replace")[-800:]))
        text = rss.read().strip().splitlines()
        kib = int(text[-1]) if text and text[-1].isdigit() else 0
    warning = case.check() if case.check else None
    return answered, kib, warning


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    osname = platform.platform(terse=True)
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return os.cpu_count(), model, osname, platform.release()


def table(ctx, rows, default_baseline):
    lines = ["| case | median s | min s | max s | peak RSS MiB | time ÷ drgn | RSS ÷ drgn | target | met |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, r in rows.items():
        med = statistics.median(r["times"])
        rss = max(r["rss"]) / 1024
        baseline = r.get("baseline") or default_baseline
        base = rows.get(baseline)
        if base and name != baseline:
            bmed = statistics.median(base["times"])
            brss = max(base["rss"]) / 1024
            tr, rr = med / bmed, rss / brss
            target, met = "—", "—"
            if r["target"]:
                factor, _ = r["target"]
                target = "time ≤ %.2f×, RSS ≤ 1×" % factor
                ok_t, ok_r = tr <= factor, rr <= 1.0
                met = "met" if ok_t and ok_r else "missed (%s)" % ", ".join(
                    w for w, ok in (("time", ok_t), ("RSS", ok_r)) if not ok)
            ratio_t, ratio_r = "%.3f" % tr, "%.2f" % rr
        else:
            ratio_t, ratio_r, target, met = "1", "1", "baseline", "—"
        lines.append("| %s | %.3f | %.3f | %.3f | %.1f | %s | %s | %s | %s |" % (
            name, med, min(r["times"]), max(r["times"]), rss, ratio_t, ratio_r, target, met))
    return "\n".join(lines)


def throughput_table(case, results):
    base = statistics.median(results[case.baseline])
    lines = ["| %s | median MiB/s | min MiB/s | max MiB/s | ÷ %s | target | met |" % (case.name, case.baseline.split(" ")[0]),
             "|---|---:|---:|---:|---:|---|---|"]
    for row in case.rows:
        vals = results[row]
        med = statistics.median(vals)
        if row == case.baseline:
            ratio, target, met = "1", "baseline", "—"
        else:
            ratio = "%.2f" % (med / base)
            target, met = "—", "—"
            if case.target and case.target[0] == row:
                target = "≥ %.2f×" % case.target[1]
                met = "met" if med / base >= case.target[1] else "missed"
        lines.append("| %s | %.0f | %.0f | %.0f | %s | %s | %s |" % (row, med, min(vals), max(vals), ratio, target, met))
    return "\n".join(lines)


def write_doc(section):
    intro = """# mkdbg performance

`scripts/bench` times one question, `p init_uts_ns.name.release`, from process start to the
printed answer, on the lab's ELF vmcore (`scripts/lab fixtures`), for mkdbg and for drgn 0.3.0
side by side: mkdbg cold (its DWARF index `symbols/.index/<build-id>.mkidx` deleted before each
run), mkdbg warm (index present), and drgn (load the dump and the vmlinux, print the member).
Each case runs once untimed, then `--runs` times (default 5) interleaved; the table gives the
median, min and max seconds and the peak RSS (GNU `time -f %M`, largest of the runs).

```sh
scripts/bench                 # swift build -c release, then the benchmark; rewrites the section below
scripts/bench --runs 9 --no-write
scripts/bench --scratch-path .build-parity   # build and use another build directory
```

Targets: cold ≤ 0.6 × drgn's time, warm ≤ 0.15 × drgn's time, peak RSS ≤ drgn's.
`log` (the whole kernel log, until its marker line is printed) against drgn's `get_dmesg()`:
time ≤ 0.5 × drgn's, RSS ≤ drgn's (`scripts/bench --case log` runs those two alone).
Throughput: `dump memory` of 256 MiB of the direct map against `dd bs=1M conv=fsync` copying the
same bytes of the file, in MiB/s (both end with the file on disk: mkdbg's dump is an atomic write,
fsync then rename); target ≥ 0.8 × dd (`scripts/bench --case dump` runs it alone).
`dis` of the vmlinux's 100 largest resident functions in one run (no baseline; `--case dis`).
Cases are functions in `scripts/benchkit/bench.py` (`CASES`); add one there.

"""
    text = open(DOC).read() if os.path.exists(DOC) else intro
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(DOC, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default=images.DEFAULT_IMAGE)
    ap.add_argument("--vmlinux", default=None)
    ap.add_argument("--mkdbg", default=os.path.join(ROOT, ".build", "release", "mkdbg"))
    ap.add_argument("--venv-python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--command", default="p init_uts_ns.name.release",
                    help="the mkdbg command (default: %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--case", action="append", default=[],
                    help="run only the cases whose name contains this (repeatable; implies --no-write)")
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("bench: --runs must be at least 1")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("bench: %s missing (scripts/bootstrap installs Debian's `time`)" % GNU_TIME)
    ctx = Context(args)
    ctx.mkdbg_command = args.command
    ctx.cleanup = []
    everything = [c for c in (f(ctx) for f in CASES) if c is not None]  # None: its dump is missing
    if args.case:
        everything = [c for c in everything if any(w.lower() in c.name.lower() for w in args.case)]
        if not everything:
            sys.exit("bench: no case matches %s" % ", ".join(args.case))
        args.no_write = True
    cases = [c for c in everything if isinstance(c, Case)]
    flows = [c for c in everything if isinstance(c, Throughput)]
    t_start = time.time()
    load = os.getloadavg()[0]
    rows = {c.name: {"times": [], "rss": [], "target": c.target, "baseline": c.baseline} for c in cases}
    rates = {c.name: {r: [] for r in c.rows} for c in flows}
    warnings = set()
    try:
        for rnd in range(args.runs + 1):
            for c in cases:
                try:
                    secs, kib, warning = run_once(c)
                except RuntimeError as e:
                    sys.exit("bench: %s" % e)
                if warning:
                    warnings.add("%s: %s" % (c.name, warning))
                if rnd == 0:
                    continue
                rows[c.name]["times"].append(secs)
                rows[c.name]["rss"].append(kib)
            for c in flows:
                try:
                    got = c.run()
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    sys.exit("bench: %s: %s" % (c.name, e))
                if rnd == 0:
                    continue
                for r, v in got.items():
                    rates[c.name][r].append(v)
            if rnd:
                print("bench: round %d/%d done" % (rnd, args.runs), file=sys.stderr)
    finally:
        for f in ctx.cleanup:
            f()
    nproc, model, osname, kernel = machine()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    tbl = table(ctx, rows, BASELINE) if cases else ""
    for c in flows:
        tbl += ("\n\n" if tbl else "") + throughput_table(c, rates[c.name]) + "\n\n" + c.note + "."
    home = os.path.expanduser("~") + "/"
    shown = "~/" + ctx.image[len(home):] if ctx.image.startswith(home) else ctx.image
    head = ("Machine: %d CPUs (`nproc`), %s; %s, Linux %s. Date: %s. Image: `%s` (%s). "
            "%sMedian of %d runs; load average %.2f at the start." % (
                nproc, model, osname, kernel, when, shown, ctx.release,
                "mkdbg command: `%s`. " % args.command if cases else "", args.runs, load))
    print(tbl)
    print()
    print(head)
    for w in sorted(warnings):
        print("warning: " + w)
    print("bench: %.1fs" % (time.time() - t_start), file=sys.stderr)
    if not args.no_write:
        section = "%s\n## Latest results\n\n%s\n\n%s\n%s%s" % (
            BEGIN, head, tbl,
            "".join("\nWarning: %s\n" % w for w in sorted(warnings)), END)
        write_doc(section)
        print("bench: wrote %s" % os.path.relpath(DOC, ROOT), file=sys.stderr)


if __name__ == "__main__":
    main()
