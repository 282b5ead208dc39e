#!/usr/bin/env python3
"""Benchmark: mkdbg (cold and warm DWARF index) against drgn 0.3.0, side by side.

Run through scripts/bench, which builds the release binary and finds drgn's venv.
Each case is a function below returning a Case; CASES lists them in the order they
run. A round runs every case once (cold deletes the index first, so warm, which
follows it, finds the freshly built one); one untimed round warms the page cache,
then --runs timed rounds. Time is measured from process start to the moment the
expected answer appears on its standard output; peak RSS comes from GNU time (%M).

To add a case: write `def case_xyz(ctx): return Case(...)` and append it to CASES.
"""

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no scripts/__pycache__
import parity  # noqa: E402  (vmcoreinfo_of_elf, find_vmlinux)

GNU_TIME = "/usr/bin/time"
DOC = os.path.join(ROOT, "docs", "performance.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


class Case:
    def __init__(self, name, argv, expect, setup=None, target=None, check=None, env=None):
        self.name = name          # row label
        self.argv = argv          # command line
        self.expect = expect      # bytes that must appear on stdout: the answer
        self.setup = setup        # called before every run (untimed)
        self.target = target      # (factor, what) e.g. (0.6, "time"): compared with the baseline
        self.check = check        # called after every run; returns a warning or None
        self.env = env


class Context:
    def __init__(self, args):
        self.image = os.path.abspath(args.image)
        self.mkdbg = os.path.abspath(args.mkdbg)
        self.python = args.venv_python
        self.vmlinux = args.vmlinux or parity.find_vmlinux(self.image)
        info = parity.vmcoreinfo_of_elf(self.image) or ""
        keys = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
        self.build_id = keys.get("BUILD-ID", "").strip().lower()
        self.release = keys.get("OSRELEASE", "").strip()
        if not self.build_id or not self.release:
            sys.exit("bench: no BUILD-ID/OSRELEASE in %s's VMCOREINFO" % self.image)
        self.index = os.path.join(ROOT, "symbols", ".index", self.build_id + ".mkidx")


# --------------------------------------------------------------------------- cases

def case_mkdbg_cold(ctx):
    def drop_index():
        if os.path.exists(ctx.index):
            os.unlink(ctx.index)

    def index_rebuilt():
        return None if os.path.exists(ctx.index) else "no index at %s after the run" % ctx.index

    return Case("mkdbg cold (no DWARF index)", [ctx.mkdbg, "-c", ctx.image, "-e", ctx.mkdbg_command],
                ctx.release.encode(), setup=drop_index, target=(0.6, "time"), check=index_rebuilt)


def case_mkdbg_warm(ctx):
    def need_index():
        return None if os.path.exists(ctx.index) else "ran without an index at %s" % ctx.index

    return Case("mkdbg warm (index present)", [ctx.mkdbg, "-c", ctx.image, "-e", ctx.mkdbg_command],
                ctx.release.encode(), setup=None, target=(0.15, "time"), check=need_index)


def case_drgn(ctx):
    script = ("import drgn\n"
              "prog = drgn.Program()\n"
              "prog.set_core_dump(%r)\n"
              "prog.load_debug_info([%r])\n"
              "print(prog['init_uts_ns'].name.release, flush=True)\n") % (ctx.image, ctx.vmlinux)
    return Case("drgn 0.3.0", [ctx.python, "-c", script], ctx.release.encode())


CASES = [case_mkdbg_cold, case_mkdbg_warm, case_drgn]
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


def table(ctx, rows, baseline):
    base = rows.get(baseline)
    lines = ["| case | median s | min s | max s | peak RSS MiB | time ÷ drgn | RSS ÷ drgn | target | met |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, r in rows.items():
        med = statistics.median(r["times"])
        rss = max(r["rss"]) / 1024
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
Cases are functions in `scripts/bench.py` (`CASES`); add one there.

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
    ap.add_argument("--image", default=parity.DEFAULT_IMAGE)
    ap.add_argument("--vmlinux", default=None)
    ap.add_argument("--mkdbg", default=os.path.join(ROOT, ".build", "release", "mkdbg"))
    ap.add_argument("--venv-python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--command", default="p init_uts_ns.name.release",
                    help="the mkdbg command (default: %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("bench: --runs must be at least 1")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("bench: %s missing (scripts/bootstrap installs Debian's `time`)" % GNU_TIME)
    ctx = Context(args)
    ctx.mkdbg_command = args.command
    cases = [f(ctx) for f in CASES]
    t_start = time.time()
    load = os.getloadavg()[0]
    rows = {c.name: {"times": [], "rss": [], "target": c.target} for c in cases}
    warnings = set()
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
        if rnd:
            print("bench: round %d/%d done" % (rnd, args.runs), file=sys.stderr)
    nproc, model, osname, kernel = machine()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    tbl = table(ctx, rows, BASELINE)
    home = os.path.expanduser("~") + "/"
    shown = "~/" + ctx.image[len(home):] if ctx.image.startswith(home) else ctx.image
    head = ("Machine: %d CPUs (`nproc`), %s; %s, Linux %s. Date: %s. Image: `%s` (%s). "
            "mkdbg command: `%s`. Median of %d runs; load average %.2f at the start." % (
                nproc, model, osname, kernel, when, shown, ctx.release, args.command, args.runs, load))
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
