"""`log` against drgn's get_dmesg(), one check per dump ("log" in the by-kind line), and drgn's
side of it (`parity.py log-answers`)."""

import json
import os
import subprocess
import sys

from images import DEFAULT_IMAGE, drgn_program

HERE = os.path.dirname(os.path.abspath(__file__))
PARITY = os.path.join(HERE, "parity.py")  # the drgn side runs as its subcommand


def dmesg_escape(raw):
    """mkdbg's printing of record text: UTF-8, control bytes (but tab) and invalid bytes as \\xNN."""
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02x" % (o - 0xDC00))
        elif (o < 0x20 and o != 9) or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def cmd_log_answers(args):
    from drgn.helpers.linux.printk import get_dmesg, get_printk_records
    prog = drgn_program(args.image, args.vmlinux)
    records = get_printk_records(prog)
    lines, joined = [], []
    for r in records:
        stamp = b"[% 5d.%06d] " % (r.timestamp // 1000000000, r.timestamp % 1000000000 // 1000)
        joined.append(stamp + r.text)
        lines += [dmesg_escape(stamp + part) for part in r.text.split(b"\n")]
    # the records, formatted, must be exactly what get_dmesg() prints
    consistent = b"\n".join(joined + [b""]) == get_dmesg(prog)
    json.dump({"lines": lines, "records": len(records), "consistent": consistent}, sys.stdout)


def log_images(args, image, drgn_image):
    """(mkdbg image, drgn image) pairs for the log checks."""
    if os.path.abspath(args.image) == os.path.abspath(DEFAULT_IMAGE) and args.drgn_image is None:
        lab = os.path.dirname(os.path.dirname(DEFAULT_IMAGE))
        pairs = [(os.path.join(lab, d, "vmcore.elf"),) * 2 for d in ("running", "panicked")]
        return [p for p in pairs if os.path.exists(p[0])]
    return [(image, drgn_image)]


def run_log_checks(args, image, drgn_image, vmlinux):
    """mkdbg's `log` against drgn's get_dmesg(), one question per dump; returns (passed, failed)."""
    passed = failed = 0
    for mk_image, dr_image in log_images(args, image, drgn_image):
        name = "log on %s" % mk_image
        p = subprocess.run([args.venv_python, PARITY, "log-answers", "--image", dr_image,
                            "--vmlinux", vmlinux], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            want = json.loads(p.stdout) if p.returncode == 0 else None
        except ValueError:
            want = None
        try:
            m = subprocess.run([args.mkdbg, "-c", mk_image, "-e", "log"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=args.timeout)
            got, rc, err = m.stdout.decode("utf-8", "replace").splitlines(), m.returncode, m.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            got, rc, err = [], "timeout after %ds" % args.timeout, ""
        problem = None
        if want is None:
            problem = "drgn could not answer: " + p.stderr.decode("utf-8", "replace").strip()[-300:]
        elif not want["consistent"]:
            problem = "drgn's get_printk_records() does not format to its get_dmesg()"
        elif rc != 0:
            problem = "mkdbg exit %s: %s" % (rc, err.strip()[-300:])
        elif got != want["lines"]:
            diffs = [i for i in range(max(len(got), len(want["lines"])))
                     if i >= len(got) or i >= len(want["lines"]) or got[i] != want["lines"][i]]
            problem = "%d lines from mkdbg, %d from drgn (%d records); %d differ, first at line %d" % (
                len(got), len(want["lines"]), want["records"], len(diffs), diffs[0] + 1)
            for i in diffs[:3]:
                problem += "\n  line %d mkdbg: %s\n  line %d drgn:  %s" % (
                    i + 1, got[i] if i < len(got) else "(none)", i + 1,
                    want["lines"][i] if i < len(want["lines"]) else "(none)")
        if problem is None:
            passed += 1
            print("parity: %s: %d lines equal drgn's get_dmesg()" % (name, len(got)))
        else:
            failed += 1
            print("FAIL [log] %s\n  %s" % (name, problem))
    return passed, failed
