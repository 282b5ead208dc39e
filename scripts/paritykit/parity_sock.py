#!/usr/bin/env python3
"""Socket parity: mkdbg's `net -s` (through `foreach net -s`) against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("net -s" in the by-kind line); on its own:

  parity_sock.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_sock.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump: every socket of every task, as drgn finds it: for_each_file() of each
task of for_each_task(), the files whose f_op is &socket_file_ops, SOCKET_I() of their inode and
its sk. One check per socket (task and fd) of the struct socket and sock addresses, the family,
type and state (skc_family, sk_type, skc_state), for inet sockets the local and remote address
and port (skc_rcv_saddr/skc_v6_rcv_saddr and skc_num, skc_daddr/skc_v6_daddr and skc_dport), for
UNIX sockets the bound path (unix_sock.addr's sun_path); and one that mkdbg lists no other socket.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from checks import Tally, answered_dumps, check_listed, main, mkdbg_json  # noqa: E402

KINDS = ("net -s",)
FIELDS = ("socket", "sock", "family", "type", "state", "local_address", "local_port", "remote_address", "remote_port", "path")


def drgn_answers(image, vmlinux):
    import ipaddress
    import socket as pysocket
    from drgn import cast
    from drgn.helpers.linux.fs import for_each_file
    from drgn.helpers.linux.net import SOCKET_I
    from drgn.helpers.linux.pid import for_each_task
    from images import drgn_program

    prog = drgn_program(image, vmlinux)
    ops = prog["socket_file_ops"].address_of_().value_()

    def unix_path(sk):
        addr = cast("struct unix_sock *", sk).addr
        if not addr:
            return None
        n = addr.len.value_() - 2
        if n <= 0:
            return ""
        raw = prog.read(addr.name[0].sun_path.address_, min(n, 108))
        if raw[0] == 0:
            return "@" + raw[1:].replace(b"\0", b"@").decode("utf-8", "replace")
        return raw.split(b"\0")[0].decode("utf-8", "replace")

    out = []
    for t in for_each_task(prog):
        if not t.files:
            continue
        for fd, f in for_each_file(t):
            if not f or f.f_op.value_() != ops:  # drgn yields NULL for a reserved fd (as parity_vm skips)
                continue
            sock = SOCKET_I(f.f_inode)
            sk = sock.sk
            entry = {"key": "%#x/%d" % (t.value_(), fd), "pid": t.pid.value_(), "fd": fd,
                     "socket": "%#x" % sock.value_(), "sock": "%#x" % sk.value_(),
                     "family": 0, "type": 0, "state": 0, "local_address": None, "local_port": None,
                     "remote_address": None, "remote_port": None, "path": None}
            if sk:
                c = sk.__sk_common
                fam = c.skc_family.value_()
                entry.update(family=fam, type=sk.sk_type.value_(), state=c.skc_state.value_())
                if fam in (pysocket.AF_INET, pysocket.AF_INET6):
                    if fam == pysocket.AF_INET:
                        local = ipaddress.IPv4Address(prog.read(c.skc_rcv_saddr.address_, 4))
                        remote = ipaddress.IPv4Address(prog.read(c.skc_daddr.address_, 4))
                    else:
                        local = ipaddress.IPv6Address(prog.read(c.skc_v6_rcv_saddr.address_, 16))
                        remote = ipaddress.IPv6Address(prog.read(c.skc_v6_daddr.address_, 16))
                    entry.update(local_address=str(local), local_port=c.skc_num.value_(), remote_address=str(remote),
                                 remote_port=pysocket.ntohs(c.skc_dport.value_()))
                elif fam == pysocket.AF_UNIX:
                    entry["path"] = unix_path(sk)
            out.append(entry)
    return {"sockets": out}


def run_sock_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    tally = Tally(KINDS)
    check = tally.check
    missing = tally.unanswered("net -s")

    for mk_image, _, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        got = (mkdbg_json(args.mkdbg, mk_image, ["foreach net -s"], args.timeout) or [None])[0]
        if not got or not got.get("ok"):
            check("net -s", "foreach net -s on %s" % where, "mkdbg: %s" % (got or {}).get("error", "no JSON"))
            continue
        mine = []
        for t in got.get("tasks", []):
            if not t.get("ok"):
                check("net -s", "net -s on %s: PID %s" % (where, t.get("pid")), "mkdbg: %s" % t.get("error"))
                continue
            for s in t["result"].get("sockets", []):
                mine.append(dict(s, key="%s/%d" % (t["task"], s["fd"])))
        check_listed(check, "net -s", mine, want["sockets"], "key", FIELDS,
                     lambda w: "net -s on %s: PID %d fd %d" % (where, w["pid"], w["fd"]),
                     "net -s on %s: no socket drgn does not list" % where)
        print("parity: net -s on %s: %d sockets of every task compared with drgn" % (where, len(want["sockets"])))
    return tally.stats


if __name__ == "__main__":
    main(__doc__, drgn_answers, run=(run_sock_checks, "parity_sock"))
