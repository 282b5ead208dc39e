#!/usr/bin/env python3
"""search parity: mkdbg's `search` against a scan of the dump file and drgn's page_offset_base.

Used by scripts/paritykit/parity.py's `run` ("search" in the by-kind line); on its own:

  parity_search.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_search.py answers --image P --vmlinux P       (needs drgn)

What is compared, per ELF dump: every place the guest's kmsg marker (facts.json "marker") is in
the dump's PT_LOAD segments, found by a plain Python scan of the file, against `search -p -c
MARKER` (physical) and `search -c MARKER` (direct-map addresses: drgn's page_offset_base plus
the physical address); every 8-byte-aligned copy of init_task's address (drgn's) against
`search -p ADDRESS`; and `search -u -t 1 -c MKDBG-MARKER` (PID 1's user pages: its init script's
text) against drgn reading each page of PID 1's VMAs through access_remote_vm.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, main, mkdbg_json  # noqa: E402

KINDS = ("search",)


def scan(image, needle, alignment=1):
    """Physical addresses of NEEDLE in the ELF core's PT_LOAD segments, at multiples of ALIGNMENT."""
    hits = []
    with open(image, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        for i in range(phnum):
            ptype, _, offset, _, paddr, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
            if ptype != 1:
                continue
            f.seek(offset)
            data = f.read(filesz)
            at = data.find(needle)
            while at >= 0:
                if (paddr + at) % alignment == 0:
                    hits.append(paddr + at)
                at = data.find(needle, at + 1)
    return sorted(hits)


def drgn_answers(image, vmlinux):
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    facts = json.load(open(os.path.join(os.path.dirname(image), "facts.json")))
    marker = facts["marker"]
    init_task = prog["init_task"].address_
    from checks import direct_map_base
    return {"marker": marker, "page_offset_base": direct_map_base(prog),
            "marker_hits": scan(image, marker.encode()), "init_task": init_task,
            "init_task_hits": scan(image, struct.pack("<Q", init_task), 8),
            "user_hits": user_scan(prog, 1, USER_NEEDLE)}


USER_NEEDLE = b"MKDBG-MARKER"  # in PID 1's memory: the init script's text


def user_scan(prog, pid, needle):
    """User virtual addresses of NEEDLE in task PID's VMAs, read page by page through drgn's
    access_remote_vm (its walk of the task's page tables); unmapped pages break a run."""
    import drgn
    from drgn.helpers.linux.mm import access_remote_vm, for_each_vma
    from drgn.helpers.linux.pid import find_task
    mm = find_task(prog, pid).mm
    hits = []
    for vma in for_each_vma(mm):
        start, end = vma.vm_start.value_(), vma.vm_end.value_()
        run, run_start = b"", start
        for page in range(start, end, 4096):
            try:
                data = access_remote_vm(mm, page, 4096)
            except drgn.FaultError:
                data = None
            if data is None:
                run = b""
                continue
            if not run:
                run_start = page
            run += data
            at = run.find(needle)
            while at >= 0:
                if run_start + at not in hits:
                    hits.append(run_start + at)
                at = run.find(needle, at + 1)
            keep = len(needle) - 1
            run_start += len(run) - keep
            run = run[-keep:]
    return sorted(hits)


def run_search_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("search")
    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        cmds = ['search -p -m 100000 -c "%s"' % want["marker"], 'search -m 100000 -c "%s"' % want["marker"],
                "search -p -m 100000 %#x" % want["init_task"]]
        got = mkdbg_json(args.mkdbg, mk_image, cmds, args.timeout) or []
        got += [None] * (3 - len(got))
        wants = [want["marker_hits"], [want["page_offset_base"] + h for h in want["marker_hits"]], want["init_task_hits"]]
        names = ["the marker's %d physical places" % len(wants[0]), "the marker's %d direct-map places" % len(wants[1]),
                 "init_task's address, %d aligned copies" % len(wants[2])]
        for g, w, name in zip(got, wants, names):
            if not g or not g.get("ok"):
                check("search", "search on %s: %s" % (where, name), "mkdbg: %s" % (g or {}).get("error", "no JSON"))
                continue
            mine = [int(h, 16) for h in g.get("hits", [])]
            check("search", "search on %s: %s" % (where, name),
                  None if mine == w else "mkdbg %s, the file %s" % ([hex(h) for h in mine[:6]], [hex(h) for h in w[:6]]))
        check("search", "search on %s: the marker is in memory" % where, None if want["marker_hits"] else "no hit in the file")
        # -u: PID 1's user pages, against drgn reading each page of its VMAs with access_remote_vm
        u = (mkdbg_json(args.mkdbg, mk_image, ['search -u -t 1 -m 100000 -c "%s"' % USER_NEEDLE.decode()], args.timeout) or [None])[0]
        name = "search on %s: %s in PID 1's user pages (%d)" % (where, USER_NEEDLE.decode(), len(want["user_hits"]))
        if not u or not u.get("ok"):
            check("search", name, "mkdbg: %s" % (u or {}).get("error", "no JSON"))
        else:
            mine = [int(h, 16) for h in u.get("hits", [])]
            check("search", name, None if mine == want["user_hits"] and mine else
                  "mkdbg %s, drgn %s" % ([hex(h) for h in mine[:6]], [hex(h) for h in want["user_hits"][:6]]))
        print("parity: search on %s: %d marker and %d init_task hits compared with a scan of the file"
              % (where, len(want["marker_hits"]), len(want["init_task_hits"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_search_checks, "parity_search"))
