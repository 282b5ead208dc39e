#!/usr/bin/env python3
"""Slab-cache parity: mkdbg's `kmem -s` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("kmem" in the by-kind line, counted in its final
"N passed, M failed"; `--no-kmem` skips it); on its own:

  parity_kmem.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_kmem.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  kmem   one check per cache of drgn's for_each_slab_cache(): its name, object_size, and
         slab_cache_usage()'s active objects, total objects and slabs against kmem -s's
         allocated, total and slabs; one that mkdbg lists no cache drgn does not; one of kmem -i's
         page counters (totalram_pages, vm_zone_stat and vm_node_stat items, the block devices'
         inodes' nrpages for buffers, swap) as drgn reads them; kmem -p of 22 frames spread over RAM
         against pfn_to_page() and decode_page_flags().
"""

import os
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("kmem",)


def drgn_answers(image, vmlinux):
    from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    caches = []
    for c in for_each_slab_cache(prog):
        u = slab_cache_usage(c)
        caches.append({"cache": "%#x" % c.value_(), "name": c.name.string_().decode("utf-8", "replace"),
                       "object_size": c.object_size.value_(), "allocated": u.active_objs, "total": u.num_objs,
                       "slabs": u.num_slabs})

    def counter(o):
        try:
            return max(0, o.counter.value_())
        except (AttributeError, LookupError):
            return max(0, o.value_())

    def zone(item):
        return counter(prog["vm_zone_stat"][prog[item]])

    def node(item):
        return counter(prog["vm_node_stat"][prog[item]])

    from drgn.helpers.linux.list import list_for_each_entry
    buffers = 0
    sb = prog["blockdev_superblock"]
    if sb:
        for inode in list_for_each_entry("struct inode", sb.s_inodes.address_of_(), "i_sb_list"):
            buffers += max(0, inode.i_data.nrpages.value_())
    total = counter(prog["_totalram_pages"])
    cached = node("NR_FILE_PAGES") - node("NR_SWAPCACHE") - buffers
    summary = {"total": total, "free": zone("NR_FREE_PAGES"), "shared": node("NR_SHMEM"), "buffers": buffers,
               "cached": max(0, cached), "slab": node("NR_SLAB_RECLAIMABLE_B") + node("NR_SLAB_UNRECLAIMABLE_B"),
               "total_swap": counter(prog["total_swap_pages"]), "free_swap": counter(prog["nr_swap_pages"])}
    from drgn.helpers.linux.mm import decode_page_flags, pfn_to_page
    pages = []
    max_pfn = prog["max_pfn"].value_()
    # RAM from the first memblock region on (arm64's starts at 1 GiB: no struct page below it)
    shift = prog["PAGE_SHIFT"].value_()  # 14 on arm64's 16k flavor
    first = int(prog["memblock"].memory.regions[0].base) >> shift
    off = 0 if first <= 1 else first
    for pfn in [off + 1, off + 0x100] + list(range(off + 0x1000, max_pfn, max(1, (max_pfn - off) // 20))):
        pg = pfn_to_page(prog, pfn)
        names = [n[3:] for n in decode_page_flags(pg).split("|") if n.startswith("PG_")]
        pages.append({"pfn": pfn, "page": "%#x" % pg.value_(), "flags": pg.flags.value_(), "flag_names": names,
                      "refcount": pg._refcount.counter.value_(), "mapping": "%#x" % pg.mapping.value_(),
                      "index": pg.index.value_()})
    bits = {name[3:]: value for name, value in prog.type("enum pageflags").enumerators if name.startswith("PG_")}
    return {"caches": caches, "summary": summary, "pages": pages, "pageflags": bits, "page_size": 1 << shift}


def run_kmem_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    from checks import Tally, answered_dumps, check_listed, field_diff, mkdbg_json
    tally = Tally(KINDS)
    check = tally.check
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, tally.unanswered("kmem")):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["kmem -s"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("kmem", "kmem -s on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        check_listed(check, "kmem", got.get("caches", []), want["caches"], "cache",
                     ("name", "object_size", "allocated", "total", "slabs"),
                     lambda w: "kmem -s on %s: %s %s" % (where, w["cache"], w["name"]),
                     "kmem -s on %s: no cache drgn does not list" % where)
        if got.get("warnings"):
            print("parity: kmem on %s warns: %s" % (where, "; ".join(got["warnings"])))
        summary = ((mkdbg_json(args.mkdbg, mk_image, ["kmem -i"], args.timeout) or [None])[0] or {}).get("summary") or {}
        check("kmem", "kmem -i on %s: the page counters" % where, field_diff(summary, want["summary"], sorted(want["summary"])))
        answers = mkdbg_json(args.mkdbg, mk_image, ["kmem -p %#x" % (w["pfn"] * want.get("page_size", 4096)) for w in want["pages"]], args.timeout) or []
        for w, g in zip(want["pages"], answers + [None] * (len(want["pages"]) - len(answers))):
            page = (g or {}).get("page") or {}
            # drgn names every alias of a set bit (PG_savepinned is PG_dirty); mkdbg the bit's first name: compare the bits.
            bits = want["pageflags"]
            problem = field_diff(page, w, ("page", "flags", "refcount", "mapping", "index"))
            mine, theirs = {bits.get(n) for n in page.get("flag_names", [])}, {bits.get(n) for n in w["flag_names"]}
            if mine != theirs:
                problem = (problem + "; " if problem else "") + "flag bits mkdbg %s drgn %s" % (page.get("flag_names"), w["flag_names"])
            check("kmem", "kmem -p on %s: PFN %#x" % (where, w["pfn"]), problem)
        print("parity: kmem -s on %s: %d caches compared with drgn" % (where, len(want["caches"])))
    return tally.stats


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    from checks import main
    main(__doc__, drgn_answers, run=(run_kmem_checks, "parity_kmem"))
