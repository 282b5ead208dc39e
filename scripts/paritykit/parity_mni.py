#!/usr/bin/env python3
"""Mount, IRQ and net parity: mkdbg's `mount`, `irq` and `net` against drgn 0.3.0.

Used by scripts/paritykit/parity.py's `run` ("mount", "irq", "net" in the by-kind line, counted in its
final "N passed, M failed"); on its own:

  parity_mni.py run --venv-python PY [--image P] [--vmlinux P] [--mkdbg BIN]
  parity_mni.py answers --image P --vmlinux P       (needs drgn)

What is compared, per dump (the lab's running and panicked ELF dumps when --image is the default):
  mount  of PID 1's mount namespace (drgn's for_each_mount over init's nsproxy->mnt_ns): one check
         per mount of its address, fs type (mount_fstype), device name (mount_src) and mount
         point (mount_dst); one that the two list the same mounts in the same order.
  irq    one check per descriptor of drgn's for_each_irq_desc: the irq_desc address, the chip
         name (irq_desc_chip_name), the action names (irq_desc_action_names), the affinity
         (irq_desc_affinity_mask) and the per-CPU counts (irq_desc_kstat_cpu); one that mkdbg
         lists no IRQ drgn does not.
  net    `net -a` against drgn's for_each_net/for_each_netdev: one check per device of its
         namespace, name (netdev_name), flags, operstate, MAC (dev_addr[:addr_len]) and IPv4
         addresses (netdev_ipv4_addrs); one that the two list the same devices in order.
"""

import os
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KINDS = ("mount", "irq", "net")


def drgn_answers(image, vmlinux):
    import drgn
    from drgn.helpers.linux import fs, irq
    from drgn.helpers.linux.cpumask import for_each_cpu, for_each_possible_cpu
    from drgn.helpers.linux.pid import find_task

    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])

    def text(b):
        return b.decode("utf-8", "replace") if b is not None else None

    init = find_task(prog, 1)
    mounts = [{"mount": "%#x" % m.value_(), "type": text(fs.mount_fstype(m)), "devname": text(fs.mount_src(m)),
               "dirname": text(fs.mount_dst(m))} for m in fs.for_each_mount(init.nsproxy.mnt_ns)]
    cpus = list(for_each_possible_cpu(prog))
    irqs = []
    for n, d in irq.for_each_irq_desc(prog):
        irqs.append({"irq": n, "irq_desc": "%#x" % d.value_(), "chip": text(irq.irq_desc_chip_name(d)),
                     "actions": [text(a) for a in irq.irq_desc_action_names(d)],
                     "affinity": list(for_each_cpu(irq.irq_desc_affinity_mask(d))),
                     "counts": [[c, irq.irq_desc_kstat_cpu(d, c)] for c in cpus]})
    from drgn.helpers.linux import net
    devices = []
    for ns in net.for_each_net(prog):
        for d in net.for_each_netdev(ns):
            n = d.addr_len.value_()
            devices.append({"net": "%#x" % ns.value_(), "net_device": "%#x" % d.value_(), "name": text(net.netdev_name(d)),
                            "flags": d.flags.value_(), "operstate": d.operstate.value_(),
                            "mac": ":".join("%02x" % d.dev_addr[i].value_() for i in range(n)),
                            "ipv4": [str(a) for a in net.netdev_ipv4_addrs(d)]})
    return {"mounts": mounts, "irqs": irqs, "devices": devices}


def run_mni_checks(args, image, drgn_image, vmlinux, default_image):
    """All checks on every dump; returns {kind: [passed, failed]} and prints each failure."""
    from checks import Tally, answered_dumps, mkdbg_json
    tally = Tally(KINDS)
    check = tally.check

    def missing(mk_image, dr_image, error):
        for kind in KINDS:
            tally.unanswered(kind)(mk_image, dr_image, error)

    for mk_image, dr_image, want in answered_dumps(args, __file__, image, drgn_image, vmlinux, default_image, missing):
        where = os.path.basename(os.path.dirname(mk_image)) or mk_image
        commands = (("mount", "mount -p 1"), ("irq", "irq"), ("net", "net -a"))
        answers = mkdbg_json(args.mkdbg, mk_image, [c for _, c in commands], args.timeout) or []
        got = {}
        for (kind, command), answer in zip(commands, answers + [None] * (len(commands) - len(answers))):
            if not answer or not answer.get("ok"):
                check(kind, "%s on %s" % (command, where), "mkdbg: %s" % (answer or {}).get("error", "no JSON"))
                continue
            got[kind] = answer
            if answer.get("warnings"):
                print("parity: %s on %s warns: %s" % (command, where, "; ".join(answer["warnings"])))
        if "mount" in got:
            mine = got["mount"].get("mounts", [])
            by_addr = {m["mount"]: m for m in mine}
            for w in want["mounts"]:
                g = by_addr.get(w["mount"])
                name = "mount on %s: %s (%s)" % (where, w["dirname"], w["mount"])
                if g is None:
                    check("mount", name, "mount not listed by mkdbg")
                    continue
                diff = ["%s mkdbg %r drgn %r" % (f, g.get(f), w[f]) for f in ("type", "devname", "dirname")
                        if g.get(f) != w[f]]
                check("mount", name, "; ".join(diff) or None)
            order = [m["mount"] for m in mine]
            check("mount", "mount on %s: the same %d mounts in order" % (where, len(want["mounts"])),
                  None if order == [w["mount"] for w in want["mounts"]] else "mkdbg %s drgn %s"
                  % (order, [w["mount"] for w in want["mounts"]]))
            print("parity: mount on %s: %d mounts compared with drgn" % (where, len(want["mounts"])))
        if "irq" in got:
            mine = {d["irq"]: d for d in got["irq"].get("irqs", [])}
            for w in want["irqs"]:
                g = mine.get(w["irq"])
                name = "irq on %s: IRQ %d" % (where, w["irq"])
                if g is None:
                    check("irq", name, "IRQ not listed by mkdbg")
                    continue
                counts = [[c["cpu"], c["count"]] for c in g.get("counts", [])]
                diff = ["%s mkdbg %r drgn %r" % (f, a, b) for f, a, b in
                        (("irq_desc", g.get("irq_desc"), w["irq_desc"]), ("chip", g.get("chip"), w["chip"]),
                         ("actions", g.get("actions"), w["actions"]), ("affinity", g.get("affinity"), w["affinity"]),
                         ("counts", counts, w["counts"])) if a != b]
                check("irq", name, "; ".join(diff) or None)
            extra = sorted(set(mine) - {w["irq"] for w in want["irqs"]})
            check("irq", "irq on %s: no IRQ drgn does not list" % where, ("mkdbg lists %s" % extra) if extra else None)
            print("parity: irq on %s: %d descriptors compared with drgn" % (where, len(want["irqs"])))
        if "net" in got:
            mine = got["net"].get("devices", [])
            by_addr = {d["net_device"]: d for d in mine}
            for w in want["devices"]:
                g = by_addr.get(w["net_device"])
                name = "net on %s: %s (%s)" % (where, w["name"], w["net_device"])
                if g is None:
                    check("net", name, "device not listed by mkdbg")
                    continue
                ips = [a["address"] for a in g.get("ipv4", [])]
                diff = ["%s mkdbg %r drgn %r" % (f, a, b) for f, a, b in
                        (("net", g.get("net"), w["net"]), ("name", g.get("name"), w["name"]),
                         ("flags", g.get("flags"), w["flags"]), ("operstate", g.get("operstate"), w["operstate"]),
                         ("mac", g.get("mac"), w["mac"]), ("ipv4", ips, w["ipv4"])) if a != b]
                check("net", name, "; ".join(diff) or None)
            order = [d["net_device"] for d in mine]
            check("net", "net on %s: the same %d devices in order" % (where, len(want["devices"])),
                  None if order == [w["net_device"] for w in want["devices"]] else "mkdbg %s drgn %s"
                  % (order, [w["net_device"] for w in want["devices"]]))
            print("parity: net on %s: %d devices compared with drgn" % (where, len(want["devices"])))
    return tally.stats


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    from checks import main
    main(__doc__, drgn_answers, run=(run_mni_checks, "parity_mni"))
