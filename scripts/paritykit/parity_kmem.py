#!/usr/bin/env python3
"""Slab-cache parity: mkdbg's `kmem -s` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("kmem" in the by-kind line, counted in its final
"N passed, M failed"; `--no-kmem` skips it); on its own:

  parity_kmem.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_kmem.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  kmem   one check per cache of drgn's for_each_slab_cache(): its name, object_size, and
         slab_cache_usage()'s active objects, total objects and slabs against kmem -s's
         allocated, total and slabs; one that mkdbg lists no cache drgn does not.
"""

import json
import os
import subprocess
import sys

from images import answers_from_drgn, dump_pairs  # noqa: E402 (paritykit is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("kmem",)


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])
    caches = []
    for c in for_each_slab_cache(prog):
        u = slab_cache_usage(c)
        caches.append({"cache": "%#x" % c.value_(), "name": c.name.string_().decode("utf-8", "replace"),
                       "object_size": c.object_size.value_(), "allocated": u.active_objs, "total": u.num_objs,
                       "slabs": u.num_slabs})
    return {"caches": caches}


def run_kmem_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    stats = {k: [0, 0] for k in KINDS}

    def check(kind, name, problem):
        if problem is None:
            stats[kind][0] += 1
        else:
            stats[kind][1] += 1
            print("FAIL [%s] %s\n  %s" % (kind, name, problem))

    for mk_image, dr_image in dump_pairs(args, image, drgn_image, default_image):
        want, drgn_error = answers_from_drgn(args, __file__, dr_image, vmlinux)
        if want is None:
            check("kmem", "drgn on %s" % dr_image, "drgn could not answer: " + drgn_error)
            continue
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        try:
            p = subprocess.run([args.mkdbg, "--json", "-c", mk_image, "-e", "kmem -s"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=args.timeout)
            got = json.loads(p.stdout.decode("utf-8", "replace").splitlines()[0])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
            check("kmem", "kmem -s on %s" % where, "mkdbg gave no JSON: %s" % e)
            continue
        if not got.get("ok"):
            check("kmem", "kmem -s on %s" % where, "mkdbg: %s" % got.get("error"))
            continue
        mine = {c["cache"]: c for c in got.get("caches", [])}
        for w in want["caches"]:
            g = mine.get(w["cache"])
            name = "kmem -s on %s: %s %s" % (where, w["cache"], w["name"])
            if g is None:
                check("kmem", name, "cache not listed by mkdbg")
                continue
            diff = ["%s mkdbg %r drgn %r" % (f, g.get(f), w[f]) for f in ("name", "object_size", "allocated", "total", "slabs")
                    if g.get(f) != w[f]]
            check("kmem", name, "; ".join(diff) or None)
        extra = sorted(set(mine) - {w["cache"] for w in want["caches"]})
        check("kmem", "kmem -s on %s: no cache drgn does not list" % where, ("mkdbg lists %s" % extra) if extra else None)
        if got.get("warnings"):
            print("parity: kmem on %s warns: %s" % (where, "; ".join(got["warnings"])))
        print("parity: kmem -s on %s: %d caches compared with drgn" % (where, len(want["caches"])))
    return stats


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    from checks import main
    main(__doc__, drgn_answers, run=(run_kmem_checks, "parity_kmem"))
