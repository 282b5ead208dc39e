#!/usr/bin/env python3
"""Slab-object and address parity: mkdbg's `kmem -S CACHE` and `kmem ADDR` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("kmem -S" and "kmem addr" in the by-kind line,
counted in its final "N passed, M failed"; `--no-slab` skips it); on its own:

  parity_slab.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_slab.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  kmem -S    per cache of a fixed list (task_struct, mm_struct, files_cache, ...; those the kernel
             has): the set of allocated objects kmem -S lists against
             slab_cache_for_each_allocated_object(), and its total objects against the cache's
             slabs times objects per slab.
  kmem addr  per address of a sample (objects of those caches and the objects after them, inner
             offsets, the lab tasks' stacks, vmap areas, kernel symbols, struct pages, direct-map
             pages, module text): kmem ADDR's slab cache, object start and allocated state against
             slab_object_info() and find_containing_slab_cache(); its kind, task, symbol, vmap
             area or PFN against identify_address_all()'s first identity; each vmap area of
             for_each_vmap_area() (every one up to 40, then a spread) by its start.
"""

import os
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("kmem -S", "kmem addr")
CACHES = ("task_struct", "mm_struct", "files_cache", "signal_cache", "sighand_cache", "vm_area_struct",
          "cred_jar", "pid", "kmalloc-64", "kmalloc-192", "kmalloc-1k", "dentry", "filp", "anon_vma")


def drgn_answers(image, vmlinux):
    from drgn import FaultError
    from drgn.helpers.common.memory import identify_address_all
    from drgn.helpers.linux.mm import for_each_vmap_area, pfn_to_page
    from drgn.helpers.linux.module import for_each_module
    from drgn.helpers.linux.pid import find_task
    from drgn.helpers.linux.slab import (find_containing_slab_cache, find_slab_cache,
                                         slab_cache_for_each_allocated_object, slab_object_info)
    from checks import facts_pids
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    caches, addresses = [], []
    for name in CACHES:
        c = find_slab_cache(prog, name)
        if not c or c.name.string_().decode() != name:
            continue
        objects = sorted(o.value_() for o in slab_cache_for_each_allocated_object(c, "char"))
        caches.append({"name": name, "cache": "%#x" % c.value_(), "allocated": ["%#x" % o for o in objects]})
        size = c.size.value_()
        for o in objects[:3]:
            addresses += [o, o + min(0x10, size - 1), o + size]
    for pid in [1, 2] + sorted(facts_pids(image).values()):
        t = find_task(prog, pid)
        if t:
            addresses.append(t.stack.value_() + 0x100)
    areas = []
    for va in for_each_vmap_area(prog):
        vm = va.vm.value_()
        areas.append({"start": "%#x" % va.va_start.value_(), "end": "%#x" % va.va_end.value_(), "area": "%#x" % va.value_(),
                      "caller": "%#x" % va.vm.caller.value_() if vm else None})
    pick = areas[:40] + areas[40::max(1, (len(areas) - 40) // 20 or 1)]
    addresses += [int(a["start"], 16) + 0x10 for a in pick]
    for name in ("init_task", "jiffies", "schedule", "panic", "init_mm"):
        try:
            addresses.append(prog.symbol(name).address + 8)
        except LookupError:
            pass
    max_pfn = prog["max_pfn"].value_()
    from checks import direct_map_base
    base = direct_map_base(prog)
    page_pfns = {}  # struct page address -> its PFN, for identities drgn does not make (arm64's vmemmap)
    # RAM from the first memblock region on (arm64's starts at 1 GiB: no struct page below it)
    first = int(prog["memblock"].memory.regions[0].base) >> 12
    off = 0 if first <= 1 else first
    for pfn in range(off + 0x100, max_pfn, max(1, (max_pfn - off) // 24)):
        page = pfn_to_page(prog, pfn).value_() + 8
        page_pfns[page] = pfn
        addresses += [page, base + pfn * 4096 + 0x123]
    for m in for_each_module(prog):
        try:
            addresses.append(m.mem[prog["MOD_TEXT"]].base.value_() + 0x10)
        except (AttributeError, KeyError):
            addresses.append(m.core_layout.base.value_() + 0x10)
    answers = []
    for a in dict.fromkeys(addresses):
        w = {"address": "%#x" % a, "kind": None, "page_pfn": page_pfns.get(a)}
        try:
            info = slab_object_info(prog, a)
        except FaultError:
            info = None
        w["slab"] = None if info is None else {"cache": "%#x" % info.slab_cache.value_(), "object": "%#x" % info.address,
                                               "allocated": info.allocated}
        w["containing_cache"] = "%#x" % find_containing_slab_cache(prog, a).value_()
        try:
            first = next(iter(identify_address_all(prog, a)), None)
        except FaultError:
            first = None
        if first is not None:
            kind = type(first).__name__
            w["kind"] = kind
            if kind == "IdentifiedTaskStack":
                w["pid"] = first.task.pid.value_()
            elif kind == "IdentifiedSymbol":
                w["symbol"] = "%s+%#x" % (first.symbol.name, a - first.symbol.address)
            elif kind == "IdentifiedVmap":
                w["vmap"] = "%#x" % first.vmap_area.va_start.value_()
            elif kind == "IdentifiedPage":
                w["pfn"] = first.pfn
        answers.append(w)
    return {"caches": caches, "addresses": answers, "areas": areas, "vmap_checked": [a["start"] for a in pick]}


def addr_problem(g, w):
    """What kmem ADDR's identity G says differently from drgn's answer W, or None."""
    if not g:
        return "mkdbg gave no identity"
    problems = []
    slab = g.get("slab")
    if w["slab"] is None:
        if slab and slab.get("object"):
            problems.append("mkdbg says slab object %s of %s, drgn says no slab object" % (slab.get("object"), slab.get("name")))
    else:
        mine = {k: (slab or {}).get(k) for k in ("cache", "object", "allocated")}
        if mine != w["slab"]:
            problems.append("slab mkdbg %r drgn %r" % (mine, w["slab"]))
    mine_cache = (slab or {}).get("cache") or "0x0"
    if mine_cache != w["containing_cache"]:
        problems.append("containing cache mkdbg %s drgn %s" % (mine_cache, w["containing_cache"]))
    kind = w["kind"]
    if kind == "IdentifiedTaskStack":
        if g.get("kind") != "stack" or (g.get("stack") or {}).get("pid") != w["pid"]:
            problems.append("drgn: stack of PID %d; mkdbg %s %r" % (w["pid"], g.get("kind"), g.get("stack")))
    elif kind == "IdentifiedTaskStruct" and g.get("kind") == "kernel":
        if (g.get("symbol") or {}).get("name") != "init_task":
            problems.append("drgn: a static task_struct; mkdbg %r" % g.get("symbol"))
    elif kind in ("IdentifiedSlabObject", "IdentifiedTaskStruct"):
        if g.get("kind") != "slab":
            problems.append("drgn: a slab object; mkdbg %s" % g.get("kind"))
    elif kind == "IdentifiedSymbol":
        s = g.get("symbol")
        mine = s and "%s+%#x" % (s["name"], s["offset"])
        if g.get("kind") == "module":
            pass  # drgn names the module's symbol; mkdbg the module region (checked below against for_each_module)
        elif g.get("kind") not in ("kernel", "stack") or mine != w["symbol"]:
            problems.append("drgn: %s; mkdbg %s %s" % (w["symbol"], g.get("kind"), mine))
    elif kind == "IdentifiedVmap":
        if (g.get("vmap") or {}).get("start") != w["vmap"]:
            problems.append("drgn: vmap area at %s; mkdbg %s %r" % (w["vmap"], g.get("kind"), g.get("vmap")))
    elif kind == "IdentifiedPage":
        if g.get("kind") != "struct_page" or (g.get("page") or {}).get("pfn") != w["pfn"]:
            problems.append("drgn: struct page of PFN %#x; mkdbg %s %r" % (w["pfn"], g.get("kind"), (g.get("page") or {}).get("pfn")))
    elif kind is None and g.get("kind") == "struct_page" and w.get("page_pfn") is not None:
        # drgn 0.3.0's identify_address has no arm64 vmemmap: the PFN drgn's pfn_to_page gave
        if (g.get("page") or {}).get("pfn") != w["page_pfn"]:
            problems.append("drgn's pfn_to_page: PFN %#x; mkdbg struct page of %r" % (w["page_pfn"], (g.get("page") or {}).get("pfn")))
    elif kind is None and (g.get("kind") in ("slab", "stack", "struct_page") or (
            g.get("symbol") and os.environ.get("MKDBG_NO_DEBUGINFO") != "1")):
        # (kallsyms has no sizes: without the vmlinux a data address takes the symbol before it)
        problems.append("drgn identifies nothing; mkdbg says %s" % g.get("kind"))
    return "; ".join(problems) or None


def run_slab_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    from checks import Tally, answered_dumps, mkdbg_json
    tally = Tally(KINDS)
    check = tally.check
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, tally.unanswered("kmem -S")):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = mkdbg_json(args.mkdbg, mk_image, ["kmem -S %s" % c["name"] for c in want["caches"]], args.timeout) or []
        for w, g in zip(want["caches"], got + [None] * (len(want["caches"]) - len(got))):
            if not g or not g.get("ok"):
                check("kmem -S", "kmem -S %s on %s" % (w["name"], where), "mkdbg: %s" % (g or {}).get("error", "no JSON"))
                continue
            mine = sorted(o["address"] for s in g["slabs"] for o in s["objects"] if o["allocated"])
            theirs = w["allocated"]
            problem = None
            if set(mine) != set(theirs):
                only_m, only_d = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
                problem = "%d allocated objects, drgn %d; only mkdbg: %s; only drgn: %s" % (
                    len(mine), len(theirs), only_m[:5], only_d[:5])
            cache = (g.get("caches") or [{}])[0]
            total = sum(s["total"] for s in g["slabs"])
            if total != cache.get("total"):
                problem = (problem + "; " if problem else "") + "%d objects in the slabs listed, kmem -s total %s" % (total, cache.get("total"))
            if g.get("warnings"):
                problem = (problem + "; " if problem else "") + "warnings: %s" % "; ".join(g["warnings"])[:300]
            check("kmem -S", "kmem -S %s on %s: %d allocated objects" % (w["name"], where, len(theirs)), problem)
        addresses = want["addresses"]
        got = mkdbg_json(args.mkdbg, mk_image, ["kmem %s" % w["address"] for w in addresses], args.timeout) or []
        for w, g in zip(addresses, got + [None] * (len(addresses) - len(got))):
            check("kmem addr", "kmem %s on %s (drgn: %s)" % (w["address"], where, w["kind"]),
                  addr_problem((g or {}).get("identity"), w))
        areas = {a["start"]: a for a in want["areas"]}
        got = mkdbg_json(args.mkdbg, mk_image, ["kmem %#x" % (int(s, 16) + 0x10) for s in want["vmap_checked"]], args.timeout) or []
        for start, g in zip(want["vmap_checked"], got + [None] * (len(want["vmap_checked"]) - len(got))):
            v = ((g or {}).get("identity") or {}).get("vmap") or {}
            a = areas[start]
            problem = None
            if (v.get("start"), v.get("end"), v.get("area"), v.get("caller")) != (a["start"], a["end"], a["area"], a["caller"]):
                problem = "mkdbg %r drgn %r" % (v, a)
            check("kmem addr", "kmem %s+0x10 on %s: vmap area" % (start, where), problem)
        print("parity: kmem -S/ADDR on %s: %d caches, %d addresses, %d vmap areas (of %d) compared with drgn"
              % (where, len(want["caches"]), len(addresses), len(want["vmap_checked"]), len(want["areas"])))
    return tally.stats


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    from checks import main
    main(__doc__, drgn_answers, run=(run_slab_checks, "parity_slab"))
