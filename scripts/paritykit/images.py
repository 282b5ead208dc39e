"""The dumps parity reads: the lab's default one, the vmlinux matching a dump (by its VMCOREINFO
build-id, then release), and drgn's program over both."""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pylib"))
import elfread  # noqa: E402  (the scripts' shared ELF reader)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_IMAGE = os.path.expanduser("~/.cache/mkdbg/lab/fixtures/running/vmcore.elf")


def vmcoreinfo_of_elf(path):
    """VMCOREINFO text from an ELF core's PT_NOTE segments (None if not found)."""
    with open(path, "rb") as f:
        try:
            return elfread.core_vmcoreinfo(f)
        except elfread.ElfError:
            return None


def find_vmlinux(image):
    """The image's vmlinux, by VMCOREINFO BUILD-ID= (then OSRELEASE=) in the symbol stores."""
    info = vmcoreinfo_of_elf(image) or ""
    keys = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
    build_id = keys.get("BUILD-ID", "").strip().lower()
    release = keys.get("OSRELEASE", "").strip()
    if not build_id:
        facts = os.path.join(os.path.dirname(image), "facts.json")
        if os.path.exists(facts):
            with open(facts) as f:
                build_id = json.load(f).get("build_id", "")
    stores = [os.environ.get("MKDBG_SYMBOLS", ""), os.path.join(os.getcwd(), "symbols"),
              os.path.join(ROOT, "symbols"), "/usr/lib/debug"]
    for store in filter(None, stores):
        if build_id:
            p = os.path.join(store, ".build-id", build_id[:2], build_id[2:] + ".debug")
            if os.path.exists(p):
                return p
        if release:
            for p in (os.path.join(store, "by-release", release, "vmlinux"),
                      os.path.join(store, "boot", "vmlinux-" + release)):
                if os.path.exists(p):
                    return p
    sys.exit("parity: no vmlinux found for %s (build-id %s, release %s); pass --vmlinux"
             % (image, build_id or "?", release or "?"))


def drgn_program(image, vmlinux):
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])
    return prog


def dump_pairs(args, image, drgn_image, default_image):
    """(mkdbg image, drgn image) pairs: the lab's running and panicked dumps by default."""
    if os.path.abspath(args.image) == os.path.abspath(default_image) and getattr(args, "drgn_image", None) is None:
        lab = os.path.dirname(os.path.dirname(default_image))
        pairs = [(os.path.join(lab, d, "vmcore.elf"),) * 2 for d in ("running", "panicked")]
        return [p for p in pairs if os.path.exists(p[0])]
    return [(image, drgn_image)]


def answers_from_drgn(args, script, dr_image, vmlinux):
    """Runs SCRIPT's `answers` in drgn's venv: (the decoded JSON or None, drgn's stderr tail)."""
    import subprocess
    p = subprocess.run([args.venv_python, os.path.abspath(script), "answers", "--image", dr_image,
                        "--vmlinux", vmlinux], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        answer = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        answer = None
    return answer, p.stderr.decode("utf-8", "replace").strip()[-300:]
