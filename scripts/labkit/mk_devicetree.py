"""Device trees of the lab multikernel: the pool's, each instance's, the boot manifests' /chosen;
compiled with dtc."""

import subprocess

from mk_layout import PAGE, POOL_PARK, POOL_SLOT


def u64s(vals):
    return "/bits/ 64 <%s>" % " ".join("0x%x" % v for v in vals)


def pci_bridge_dts(indent="\t"):
    """The PCI hierarchy of upstream.md 3.7: a virtio-net function 0000:09:00.0 behind a bridge."""
    i = indent
    return "\n".join([
        i + "pci@0 {",
        i + "\tcompatible = \"multikernel,pci-host-bridge\";",
        i + "\tdevice_type = \"pci\";",
        i + "\t#address-cells = <3>;",
        i + "\t#size-cells = <2>;",
        i + "\tlinux,pci-domain = <0>;",
        i + "\tbus-range = <0x0 0xff>;",
        i + "\treg = <0x0 0xb0000000 0x0 0x10000000>;",
        i + "\tranges = <0x02000000 0x0 0x80000000 0x0 0x80000000 0x0 0x30000000>;",
        i + "\tpci@3,0 {",
        i + "\t\tdevice_type = \"pci\";",
        i + "\t\t#address-cells = <3>;",
        i + "\t\t#size-cells = <2>;",
        i + "\t\treg = <0x1800 0x0 0x0 0x0 0x0>;",
        i + "\t\tbus-range = <0x9 0x9>;",
        i + "\t\tpci@0,0 {",
        i + "\t\t\treg = <0x90000 0x0 0x0 0x0 0x0>;",
        i + "\t\t\tvendor-id = <0x1af4>;",
        i + "\t\t\tdevice-id = <0x1041>;",
        i + "\t\t};",
        i + "\t};",
        i + "};",
    ])


def instance_dts(inst, chosen=None):
    """Instance tree (upstream.md 3.3); with chosen, the boot tree (3.5) handed to the spawn."""
    lines = ["/dts-v1/;", "/ {",
             "\tcompatible = \"multikernel-v1\";",
             "\tmodel = \"%s\";" % inst["name"],
             "\t#address-cells = <2>;",
             "\t#size-cells = <2>;",
             "\tid = <%d>;" % inst["id"],
             "\tresources {",
             "\t\tmemory-base = %s;" % u64s([inst["host_phys"]]),
             "\t\tmemory-bytes = %s;" % u64s([inst["bytes"]]),
             "\t\tcpus = %s;" % u64s(inst["cpus"])]
    if inst["name"] == "web":
        lines += ["\t\tdevices {",
                  "\t\t\tserial8250 { device-type = \"platform\"; device-name = \"serial8250\"; };",
                  "\t\t};"]
    lines.append("\t};")
    if inst["name"] == "web":
        lines.append("\taliases { enp9s0 = \"/pci@0/pci@3,0/pci@0,0\"; };")
        lines.append(pci_bridge_dts())
    if chosen:
        lines += ["\tchosen {"] + ["\t\t%s;" % c for c in chosen] + ["\t};"]
    lines += ["};", ""]
    return "\n".join(lines)


def pool_dts(cfg):
    pool_cpus = [c for c in cfg["host_cpus"] if c not in cfg["host_own_cpus"]]
    used = {c for i in cfg["instances"] for c in i["cpus"]}
    lines = ["/dts-v1/;", "/ {",
             "\tcompatible = \"multikernel-v1\";",
             "\t#address-cells = <2>;",
             "\t#size-cells = <2>;",
             "\tid = <0>;",
             "\tresources {",
             "\t\tcpus = %s;" % u64s(pool_cpus),
             "\t\tcpus-available = %s;" % u64s([c for c in pool_cpus if c not in used])]
    for base, size in cfg["pool_chunks"]:
        lines += ["\t\tmemory@%x {" % base,
                  "\t\t\tdevice_type = \"memory\";",
                  "\t\t\treg = %s;" % u64s([base, size]),
                  "\t\t\tnuma-node-id = <0>;",
                  "\t\t};"]
    lines += ["\t\tdevices {",
              "\t\t\tserial_console { device-type = \"platform\"; device-name = \"serial8250\"; };",
              "\t\t};",
              "\t};",
              # a PCI function still free in the pool (web holds 0000:09:00.0)
              "\tpci@0 {",
              "\t\tcompatible = \"multikernel,pci-host-bridge\";",
              "\t\tdevice_type = \"pci\";",
              "\t\t#address-cells = <3>;",
              "\t\t#size-cells = <2>;",
              "\t\tlinux,pci-domain = <0>;",
              "\t\tbus-range = <0x0 0xff>;",
              "\t\treg = <0x0 0xb0000000 0x0 0x10000000>;",
              "\t\tranges = <0x02000000 0x0 0x80000000 0x0 0x80000000 0x0 0x30000000>;",
              "\t\tpci@4,0 {",
              "\t\t\tdevice_type = \"pci\";",
              "\t\t\t#address-cells = <3>;",
              "\t\t\t#size-cells = <2>;",
              "\t\t\treg = <0x2000 0x0 0x0 0x0 0x0>;",
              "\t\t\tbus-range = <0xa 0xa>;",
              "\t\t\tpci@0,0 {",
              "\t\t\t\treg = <0xa0000 0x0 0x0 0x0 0x0>;",
              "\t\t\t\tvendor-id = <0x1af4>;",
              "\t\t\t\tdevice-id = <0x1041>;",
              "\t\t\t};",
              "\t\t};",
              "\t};",
              "};", ""]
    return "\n".join(lines)


def boot_chosen(cfg, inst):
    """/chosen of the boot tree, as mk_manifest_chosen() writes it (manifest.c): the reserved
    ranges, the host's inbox, the pool slot, the spawn's own inbox, then the host-tree node."""
    host = cfg["host_inbox"]
    reserved = [host[0], host[1], inst["inbox"][0], inst["inbox"][1], inst["manifest"][0], inst["manifest"][1]]
    for other in cfg["instances"]:
        if other is not inst and "inbox" in other:
            reserved += [other["inbox"][0], other["inbox"][1], other["manifest"][0], other["manifest"][1]]
    reserved += list(cfg.get("pool_park", POOL_PARK))
    # Without a user host tree the kernel names the CPUs the spawn may receive later: every other
    # kernel's and the free pool's, sorted (mk_manifest_collect_cpus).
    others = set(cfg["host_own_cpus"]) | {c for i in cfg["instances"] if i is not inst for c in i["cpus"]}
    pool = [c for c in cfg["host_cpus"] if c not in cfg["host_own_cpus"]]
    used = {c for i in cfg["instances"] for c in i["cpus"]}
    others |= {c for c in pool if c not in used}
    return ["multikernel,reserved-memory = %s" % u64s(reserved),
            "multikernel,host-ipi-buffer = %s" % u64s([host[0]]),
            "multikernel,host-ipi-pages = <%d>" % (host[1] // PAGE),
            "multikernel,pool-slot = %s" % u64s([cfg.get("pool_slot", POOL_SLOT)]),
            "multikernel,ipi-buffer = %s" % u64s([inst["inbox"][0]]),
            "multikernel,ipi-pages = <%d>" % (inst["inbox"][1] // PAGE),
            "multikernel,host-tree { cpus = %s; }" % u64s(sorted(others))]


def dtc(dts):
    p = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"], input=dts.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("mklab: dtc failed: %s\n%s" % (p.stderr.decode(errors="replace"), dts))
    return p.stdout
