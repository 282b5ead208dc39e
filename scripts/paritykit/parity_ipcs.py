#!/usr/bin/env python3
"""SysV IPC parity: mkdbg's `ipcs` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("ipcs" in the by-kind line); on its own:

  parity_ipcs.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_ipcs.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: every object drgn's idr_for_each() finds in init_ipc_ns.ids[]'s
IDRs (semaphore sets, message queues, shared memory segments), each entry's kern_ipc_perm taken
back to its sem_array, msg_queue or shmid_kernel: one check per object of its address, key, id,
index, uid, gid, mode and what its kind adds (shm_segsz and shm_nattch, sem_nsems, q_cbytes and
q_qnum); one per kind that mkdbg lists no object drgn does not.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, check_listed, main, mkdbg_json  # noqa: E402

KINDS = ("ipcs",)
# ipc_namespace.ids[] index, mkdbg's JSON list, the container struct, its kern_ipc_perm member, {JSON field: member}
TABLES = ((0, "sem", "struct sem_array", "sem_perm", {"nsems": "sem_nsems"}),
          (1, "msg", "struct msg_queue", "q_perm", {"used_bytes": "q_cbytes", "messages": "q_qnum"}),
          (2, "shm", "struct shmid_kernel", "shm_perm", {"size": "shm_segsz", "nattch": "shm_nattch"}))
COMMON = ("address", "key", "id", "index", "uid", "gid", "mode")


def drgn_answers(image, vmlinux):
    from drgn import cast, container_of
    from drgn.helpers.linux.idr import idr_for_each
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    ns = prog["init_ipc_ns"]
    out = {}
    for i, name, ctype, member, extra in TABLES:
        objects = []
        for index, entry in idr_for_each(ns.ids[i].ipcs_idr.address_of_()):
            perm = cast("struct kern_ipc_perm *", entry)
            obj = container_of(perm, ctype, member)
            o = {"address": "%#x" % obj.value_(), "key": perm.key.value_() & 0xFFFFFFFF, "id": perm.id.value_(),
                 "index": index, "uid": perm.uid.val.value_(), "gid": perm.gid.val.value_(), "mode": perm.mode.value_()}
            o.update({k: getattr(obj, m).value_() for k, m in extra.items()})
            objects.append(o)
        out[name] = objects
    return out


def run_ipcs_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("ipcs")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["ipcs"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("ipcs", "ipcs on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        for _, name, ctype, _, extra in TABLES:
            check_listed(check, "ipcs", got.get(name) or [], want[name], "address", COMMON + tuple(extra),
                         lambda w: "ipcs on %s: %s key %#x id %d" % (where, name, w["key"], w["id"]),
                         "ipcs on %s: no %s drgn does not list" % (where, ctype))
        print("parity: ipcs on %s: %d shm, %d sem, %d msg compared with drgn"
              % (where, len(want["shm"]), len(want["sem"]), len(want["msg"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_ipcs_checks, "parity_ipcs"))
