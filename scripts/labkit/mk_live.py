"""Live state of the lab multikernel's instances: QEMU (QMP), RAM files, the kcore each instance
file serves."""

import os
import threading

import elfread
from mk_core import NT_PRSTATUS, PRSTATUS_SIZE, Segment, core_layout, note, parse_registers, prstatus
from qmp import QMP, QMPError


class Lab:
    """Live state of the instances: QMP (the dedicated fs.sock of each guest) and RAM files."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.insts = {i["name"]: i for i in cfg["instances"]}
        self.locks = {n: threading.Lock() for n in self.insts}
        self.freeze_req = {n: 0 for n in self.insts}
        self.fds = {}
        for i in cfg["instances"]:
            if "ram" in i:
                self.fds[i["ram"]] = os.open(i["ram"], os.O_RDONLY)
        self.fds[cfg["shared"]["path"]] = os.open(cfg["shared"]["path"], os.O_RDONLY)
        self.dtbs = {}
        state = os.path.join(os.path.dirname(cfg["_path"]), "dt")
        with open(os.path.join(state, "pool.dtb"), "rb") as f:
            self.pool_dtb = f.read()
        for n in self.insts:
            with open(os.path.join(state, n + ".dtb"), "rb") as f:
                self.dtbs[n] = f.read()

    # --- QEMU
    def qemu_alive(self, inst):
        pid = inst.get("pid")
        if not pid:
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return ("mkdbg-" + inst["guest"]).encode() in f.read().split(b"\0")
        except OSError:
            return False

    def qmp(self, inst, command, args=None, timeout=3.0):
        with self.locks[inst["name"]]:
            path = inst["qmp"]
            q = QMP(path, timeout)
            try:
                return q.execute(command, args)
            finally:
                q.close()

    def run_state(self, inst):
        """QEMU's run state ('running', 'paused', 'guest-panicked', ...) or None if no guest."""
        if "ram" not in inst or not self.qemu_alive(inst):
            return None
        try:
            return self.qmp(inst, "query-status")["status"]
        except (OSError, QMPError, TimeoutError, ValueError, KeyError):
            return None if not self.qemu_alive(inst) else "unknown"

    @staticmethod
    def status_of(inst, rs):
        if "ram" not in inst:
            return "ready"
        if rs in ("running", "paused", "debug", "suspended", "io-error", "watchdog", "unknown",
                  "restore-vm", "save-vm", "finish-migrate", "postmigrate"):
            return "active"
        return "loaded"  # halted, panicked, QEMU gone: the kimage stays, memory survives

    def registers(self, inst):
        text = self.qmp(inst, "human-monitor-command", {"command-line": "info registers -a"}, timeout=5.0)
        return parse_registers(text)

    # --- kcore
    def segments(self, inst):
        if "ram" not in inst:
            return []
        sh = self.cfg["shared"]
        segs = [Segment(inst["guest_phys"], inst["bytes"], inst["ram"], 0)]
        for phys, size in (self.cfg["host_inbox"], inst["inbox"], inst["manifest"]):
            segs.append(Segment(phys, size, sh["path"], phys - sh["phys"]))
        segs.sort(key=lambda s: s.paddr)
        return segs

    def notes_room(self, inst):
        return 12 + 12 + 0x1000 + len(inst["cpus"]) * (12 + 8 + PRSTATUS_SIZE) + 64

    def kcore_shape(self, inst):
        segs = self.segments(inst)
        start, size = core_layout(segs, self.notes_room(inst))
        return segs, start, size

    def kcore_notes(self, inst, rs):
        blob = b""
        if "ram" not in inst:
            return blob
        phys = inst["vmcoreinfo"][0]
        fd = self.fds[inst["ram"]]
        descsz = elfread.vmcoreinfo_note_size(os.pread(fd, 24, phys), 0x1000)
        if descsz is not None:
            blob += os.pread(fd, 24 + ((descsz + 3) & ~3), phys)
        if rs == "paused":
            try:
                cpus = self.registers(inst)
            except (OSError, QMPError, TimeoutError, ValueError):
                cpus = []
            for regs in cpus[:len(inst["cpus"])]:
                blob += note("CORE", NT_PRSTATUS, prstatus(regs))
        return blob

    def read_segments(self, segs, off, size):
        out = bytearray(size)
        end = off + size
        for s in segs:
            a, b = max(off, s.offset), min(end, s.offset + s.size)
            if a >= b:
                continue
            data = os.pread(self.fds[s.path], b - a, s.file_off + (a - s.offset))
            out[a - off:a - off + len(data)] = data
        return bytes(out)
