#!/usr/bin/env python3
"""The lab's multikernel message traffic: plays the other kernels on the inbox rings.

  mk_traffic.py run CONFIG [--seed N]
        produce and consume messages on the inbox rings of the lab (lab.json CONFIG) until SIGTERM;
        scripts/lab up starts it in the background, scripts/lab down stops it
  mk_traffic.py pause CONFIG [--unpublished] [--timeout S]
        stop all ring changes, write the state file; --unpublished waits (up to S seconds, default
        20) for a moment when some ring holds a claimed-but-unpublished pending slot
  mk_traffic.py resume CONFIG
        repair any corrupted ring, let the traffic go on
  mk_traffic.py status CONFIG [--json]
        write the state file and print it (text, or the JSON with --json)
  mk_traffic.py corrupt CONFIG NAME
        (paused only) head of ring NAME += 64 (out of 0..63, same value masked) and the first
        published pending slot's data_size = 5000; the previous values are saved
  mk_traffic.py repair CONFIG NAME
        restore what corrupt changed

Files beside CONFIG ($LAB/mk): traffic.pid (written by scripts/lab), traffic.lock (flock held
around every ring change and every snapshot), traffic.paused (exists while paused),
traffic.json (the state, docs/lab-multikernel.md), traffic.corrupt.json (saved values of
corrupted rings), traffic.ready (written by `run` after its warm-up).

The rings use the newest upstream layout (struct mk_shared_data, upstream.md 4.6): head and tail
(s32, kept masked to 0..63) at 0 and 4, 64 slots of 4120 bytes at 8 + k * 4120 (u64 sender_cpu,
u32 type, size_t data_size at 16, buffer[4096] at 24), force_halt at 263688, parked[512] at
263692. Producers claim a slot by advancing head, fill it, and publish data_size last; the consumer
stops at a slot whose data_size is 0 (claimed, not published), clears data_size and advances
tail. The consumed slots keep their contents (only data_size is zeroed).
"""
import fcntl
import json
import mmap
import os
import random
import signal
import struct
import sys
import time

# ------------------------------------------------------------------ layout

SLOTS = 64
SLOT_SIZE = 4120
ENTRIES_OFF = 8
SENDER_OFF, TYPE_OFF, SIZE_OFF, BUFFER_OFF = 0, 8, 16, 24
MAX_DATA = 4096
FORCE_HALT_OFF = ENTRIES_OFF + SLOTS * SLOT_SIZE   # 263688
PARKED_OFF = FORCE_HALT_OFF + 4                     # 263692
PARKED_LEN = 512
SHARED_DATA_SIZE = 264208                           # sizeof(struct mk_shared_data)
assert FORCE_HALT_OFF == 263688 and PARKED_OFF == 263692

LAYOUT = {"slots": SLOTS, "slot_size": SLOT_SIZE, "entries_offset": ENTRIES_OFF,
          "sender_cpu_offset": SENDER_OFF, "type_offset": TYPE_OFF, "data_size_offset": SIZE_OFF,
          "buffer_offset": BUFFER_OFF, "buffer_size": MAX_DATA, "force_halt_offset": FORCE_HALT_OFF,
          "parked_offset": PARKED_OFF, "parked_size": PARKED_LEN, "sizeof": SHARED_DATA_SIZE}

# ------------------------------------------------------------------ messages (upstream names)

MK_MSG_IO, MK_MSG_RESOURCE, MK_MSG_SYSTEM, MK_MSG_USER, MK_MSG_NETWORK = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
MKTTY_IPI_TYPE = 0x4D4B5459
MSG_TYPES = {MK_MSG_IO: "MK_MSG_IO", MK_MSG_RESOURCE: "MK_MSG_RESOURCE", MK_MSG_SYSTEM: "MK_MSG_SYSTEM",
             MK_MSG_USER: "MK_MSG_USER", MK_MSG_NETWORK: "MK_MSG_NETWORK"}
SLOT_TYPES = dict(MSG_TYPES)
SLOT_TYPES[MKTTY_IPI_TYPE] = "MKTTY_IPI_TYPE"

MK_IO_IRQ_FORWARD = 0x1001
MK_RES_CPU_ADD, MK_RES_CPU_REMOVE, MK_RES_MEM_ADD, MK_RES_MEM_REMOVE = 0x2001, 0x2002, 0x2003, 0x2004
MK_RES_QUERY, MK_RES_DEVICE_ADD, MK_RES_DEVICE_REMOVE, MK_RES_ACK = 0x2005, 0x2006, 0x2007, 0x2100
MK_SYS_HEARTBEAT, MK_SYS_SHUTDOWN, MK_SYS_SHUTDOWN_ACK, MK_SYS_HALTED = 0x3001, 0x3002, 0x3003, 0x3004
MK_NET_VSOCK_PKT, MK_NET_DATA_READY = 0x5001, 0x5002
SUBTYPES = {
    0x1001: "MK_IO_IRQ_FORWARD", 0x1002: "MK_IO_IRQ_BALANCE", 0x1003: "MK_IO_IRQ_MASK",
    0x1004: "MK_IO_IRQ_UNMASK",
    0x2001: "MK_RES_CPU_ADD", 0x2002: "MK_RES_CPU_REMOVE", 0x2003: "MK_RES_MEM_ADD",
    0x2004: "MK_RES_MEM_REMOVE", 0x2005: "MK_RES_QUERY", 0x2006: "MK_RES_DEVICE_ADD",
    0x2007: "MK_RES_DEVICE_REMOVE", 0x2100: "MK_RES_ACK",
    0x3001: "MK_SYS_HEARTBEAT", 0x3002: "MK_SYS_SHUTDOWN", 0x3003: "MK_SYS_SHUTDOWN_ACK",
    0x3004: "MK_SYS_HALTED",
    0x5001: "MK_NET_VSOCK_PKT", 0x5002: "MK_NET_DATA_READY",
}
MKTTY_TYPES = {1: "MKTTY_MSG_INPUT", 2: "MKTTY_MSG_OUTPUT"}
MK_SHUTDOWN_GRACEFUL = 1
MK_MEM_NORMAL = 1
MK_IRQ_LOW_LATENCY, MK_IRQ_EDGE_TRIGGERED = 0x02, 0x04
VIRTIO_VSOCK_TYPE_STREAM = 1
VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_CREDIT_UPDATE = 5, 6

MK_MESSAGE = struct.Struct("<IIQI")          # msg_type, msg_subtype, msg_id, payload_len; payload @ 20
MK_MESSAGE_SIZEOF = 24                       # the sender sends sizeof(struct mk_message) + payload_len
MKTTY = struct.Struct("<IIII")               # type, console_id, len, reserved; data @ 16
# payload structs: (name, struct format, field names); formats include the trailing padding
PAYLOADS = {
    "mk_io_irq_payload": ("<IIII", ("irq_number", "vector", "device_id", "flags")),
    "mk_cpu_resource_payload": ("<QIIi4x", ("cpu_id", "numa_node", "flags", "sender_instance_id")),
    "mk_mem_resource_payload": ("<QQIIi4x", ("start_pfn", "nr_pages", "numa_node", "mem_type",
                                             "sender_instance_id")),
    "mk_device_resource_payload": ("<HBBI64si", ("domain", "bus", "devfn", "flags", "driver_override",
                                                 "sender_instance_id")),
    "mk_resource_ack": ("<IIQ", ("operation", "result", "resource_id")),
    "mk_shutdown_payload": ("<Ii", ("flags", "sender_instance_id")),
    "virtio_vsock_hdr": ("<QQIIIHHIII", ("src_cid", "dst_cid", "src_port", "dst_port", "len", "type", "op",
                                         "flags", "buf_alloc", "fwd_cnt")),
}
PAYLOAD_OF = {
    MK_IO_IRQ_FORWARD: "mk_io_irq_payload",
    MK_RES_CPU_ADD: "mk_cpu_resource_payload", MK_RES_CPU_REMOVE: "mk_cpu_resource_payload",
    MK_RES_MEM_ADD: "mk_mem_resource_payload", MK_RES_MEM_REMOVE: "mk_mem_resource_payload",
    MK_RES_DEVICE_ADD: "mk_device_resource_payload", MK_RES_DEVICE_REMOVE: "mk_device_resource_payload",
    MK_RES_ACK: "mk_resource_ack",
    MK_SYS_SHUTDOWN: "mk_shutdown_payload", MK_SYS_SHUTDOWN_ACK: "mk_resource_ack",
    MK_SYS_HALTED: "mk_resource_ack",
    MK_NET_VSOCK_PKT: "virtio_vsock_hdr",
}


def pack(name, *vals):
    return struct.pack(PAYLOADS[name][0], *vals)


def mk_message(msg_type, subtype, payload=b""):
    """The bytes mk_send_message() sends: header, payload at 20, sizeof 24 + payload_len in all."""
    return (MK_MESSAGE.pack(msg_type, subtype, 0, len(payload)) + payload + b"\0" * 4, msg_type)


def mktty_message(kind, console_id, text):
    data = text.encode("ascii")
    return (MKTTY.pack(kind, console_id, len(data), 0) + data, MKTTY_IPI_TYPE)

# ------------------------------------------------------------------ decoding


def decode_payload(subtype, payload):
    name = PAYLOAD_OF.get(subtype)
    if name is None:
        return None
    fmt, fields = PAYLOADS[name]
    size = struct.calcsize(fmt)
    if len(payload) < size:
        return None
    vals = struct.unpack_from(fmt, payload)
    out = {"struct": name}
    for f, v in zip(fields, vals):
        if f == "driver_override":
            v = v.split(b"\0", 1)[0].decode("latin-1")
        out[f] = v
    if name == "mk_resource_ack":
        out["operation_name"] = SUBTYPES.get(out["operation"])
    if name == "virtio_vsock_hdr":
        data = payload[size:size + out["len"]]
        out["data"] = data.decode("latin-1")
        out["data_hex"] = data.hex()
    return out


def decode_buffer(stype, buf):
    """(message dict or None, size in bytes) of a slot's buffer, from the lengths inside it."""
    if stype in MSG_TYPES:
        msg_type, subtype, msg_id, plen = MK_MESSAGE.unpack_from(buf, 0)
        size = MK_MESSAGE_SIZEOF + plen
        payload = buf[20:20 + plen] if size <= MAX_DATA else b""
        return ({"format": "mk_message", "msg_type": msg_type, "msg_type_name": MSG_TYPES.get(msg_type),
                 "msg_subtype": subtype, "msg_subtype_name": SUBTYPES.get(subtype), "msg_id": msg_id,
                 "payload_len": plen, "payload": decode_payload(subtype, payload) if size <= MAX_DATA else None},
                min(size, MAX_DATA))
    if stype == MKTTY_IPI_TYPE:
        kind, console_id, n, reserved = MKTTY.unpack_from(buf, 0)
        size = MKTTY.size + n
        data = buf[16:16 + n] if size <= MAX_DATA else b""
        return ({"format": "mktty_message", "type": kind, "type_name": MKTTY_TYPES.get(kind),
                 "console_id": console_id, "len": n, "reserved": reserved, "text": data.decode("latin-1")},
                min(size, MAX_DATA))
    return None, 0

# ------------------------------------------------------------------ rings


class Ring:
    def __init__(self, mm, name, kid, phys, size, off, cpus, owners=None):
        self.mm, self.name, self.id, self.phys, self.size, self.off, self.cpus = mm, name, kid, phys, size, off, cpus
        self.owners = owners or {}  # physical CPU id -> kernel name

    def _i32(self, at):
        return struct.unpack_from("<i", self.mm, self.off + at)[0]

    @property
    def head(self):
        return self._i32(0)

    @head.setter
    def head(self, v):
        struct.pack_into("<i", self.mm, self.off, v)

    @property
    def tail(self):
        return self._i32(4)

    @tail.setter
    def tail(self, v):
        struct.pack_into("<i", self.mm, self.off + 4, v)

    def slot_off(self, k):
        return self.off + ENTRIES_OFF + k * SLOT_SIZE

    def data_size(self, k):
        return struct.unpack_from("<Q", self.mm, self.slot_off(k) + SIZE_OFF)[0]

    def set_data_size(self, k, v):
        struct.pack_into("<Q", self.mm, self.slot_off(k) + SIZE_OFF, v)

    def sane(self):
        return 0 <= self.head < SLOTS and 0 <= self.tail < SLOTS

    def pending(self):
        """Indices tail .. head-1 (masked), oldest first."""
        h, t = self.head & (SLOTS - 1), self.tail & (SLOTS - 1)
        return [(t + i) & (SLOTS - 1) for i in range((h - t) & (SLOTS - 1))]

    def others(self):
        """Indices head .. tail-1 (masked): not pending; the last one was consumed last."""
        h, t = self.head & (SLOTS - 1), self.tail & (SLOTS - 1)
        n = SLOTS if h == t else (t - h) & (SLOTS - 1)
        return [(h + i) & (SLOTS - 1) for i in range(n)]

    def slot(self, k):
        o = self.slot_off(k)
        sender, stype, size = struct.unpack_from("<QI4xQ", self.mm, o)
        buf = bytes(self.mm[o + BUFFER_OFF:o + BUFFER_OFF + MAX_DATA])
        msg, msize = decode_buffer(stype, buf)
        return {"index": k, "offset": ENTRIES_OFF + k * SLOT_SIZE, "phys": self.phys + ENTRIES_OFF + k * SLOT_SIZE,
                "sender_cpu": sender, "sender": self.owners.get(sender), "type": stype, "type_name": SLOT_TYPES.get(stype), "data_size": size,
                "published": size != 0, "message_size": msize, "message": msg, "bytes": buf[:msize].hex()}

    def snapshot(self, corrupt=None):
        head, tail = self.head, self.tail
        pend = [self.slot(k) for k in self.pending()]
        cons = [s for s in (self.slot(k) for k in self.others()) if s["type"] != 0]
        parked = self.mm[self.off + PARKED_OFF:self.off + PARKED_OFF + PARKED_LEN]
        return {"name": self.name, "id": self.id, "phys": self.phys, "phys_hex": "%x" % self.phys,
                "size": self.size, "file_offset": self.off, "head": head, "tail": tail,
                "head_in_range": 0 <= head < SLOTS, "tail_in_range": 0 <= tail < SLOTS,
                "pending_count": len(pend), "unpublished_count": sum(1 for s in pend if not s["published"]),
                "force_halt": struct.unpack_from("<I", self.mm, self.off + FORCE_HALT_OFF)[0],
                "parked": [i for i, b in enumerate(parked) if b],
                "corrupted": corrupt, "pending": pend, "consumed": cons}


class Shared:
    """The lab's shared memory file and the rings in it, from lab.json."""

    def __init__(self, cfg_path, write=False):
        with open(cfg_path) as f:
            self.cfg = json.load(f)
        self.dir = os.path.dirname(os.path.abspath(cfg_path))
        sh = self.cfg["shared"]
        self.path, self.base = sh["path"], sh["phys"]
        self.fd = os.open(self.path, os.O_RDWR if write else os.O_RDONLY)
        self.mm = mmap.mmap(self.fd, sh["size"], prot=mmap.PROT_READ | (mmap.PROT_WRITE if write else 0))
        phys, size = self.cfg["host_inbox"]
        self.rings = [Ring(self.mm, "host", 0, phys, size, phys - self.base, self.cfg["host_own_cpus"])]
        for inst in self.cfg["instances"]:
            if "inbox" in inst:
                phys, size = inst["inbox"]
                self.rings.append(Ring(self.mm, inst["name"], inst["id"], phys, size, phys - self.base, inst["cpus"]))
        self.by_name = {r.name: r for r in self.rings}
        owners = {c: "host" for c in self.cfg["host_own_cpus"]}
        for inst in self.cfg["instances"]:
            owners.update({c: inst["name"] for c in inst["cpus"]})
        for r in self.rings:
            r.owners = owners

    def file(self, name):
        return os.path.join(self.dir, "traffic." + name)

    def unlinked(self):
        try:
            return os.fstat(self.fd).st_nlink == 0
        except OSError:
            return True

# ------------------------------------------------------------------ the traffic


LOW, HIGH, CAP = 2, 24, 40        # pending: consumer keeps >= LOW, drains hard above HIGH; no produce >= CAP
UNPUBLISHED_P = 0.12              # chance that a produced message stays claimed but unpublished


class Traffic:
    def __init__(self, shared, seed):
        self.sh = shared
        self.rng = random.Random(seed)
        self.seed = seed
        self.host = shared.rings[0]
        self.spawns = shared.rings[1:]
        self.count = {r.name: 0 for r in shared.rings}    # messages produced into each ring
        self.ticks = {r.name: 0 for r in self.spawns}     # console ticks per instance
        self.acks = {r.name: [] for r in self.spawns}     # replies a spawn owes the host
        self.unpub = {}                                   # ring -> [index, data_size, steps left]
        self.toggle = {}                                  # alternating add/remove per (instance, kind)
        self.fwd = {}                                     # vsock fwd_cnt per direction

    # --- message contents
    def flip(self, key):
        self.toggle[key] = not self.toggle.get(key, False)
        return self.toggle[key]

    def vsock(self, src, dst, port_src, port_dst, text, credit=False):
        data = b"" if credit else text.encode("ascii")
        key = (src, dst)
        self.fwd[key] = self.fwd.get(key, 0) + 64 * self.rng.randint(1, 16)
        hdr = pack("virtio_vsock_hdr", src, dst, port_src, port_dst, len(data), VIRTIO_VSOCK_TYPE_STREAM,
                   VIRTIO_VSOCK_OP_CREDIT_UPDATE if credit else VIRTIO_VSOCK_OP_RW, 0, 65536, self.fwd[key])
        return mk_message(MK_MSG_NETWORK, MK_NET_VSOCK_PKT, hdr + data)

    def device(self, inst):
        return (0, 0x0a, 0x00) if inst.name == "web" else (0, 0x0b, 0x08)

    def host_to_spawn(self, inst, kind):
        """A message the host sends to instance inst."""
        n = self.count[inst.name]
        if kind == "heartbeat":
            return mk_message(MK_MSG_SYSTEM, MK_SYS_HEARTBEAT)
        if kind == "shutdown":
            return mk_message(MK_MSG_SYSTEM, MK_SYS_SHUTDOWN, pack("mk_shutdown_payload", MK_SHUTDOWN_GRACEFUL, 0))
        if kind == "irq":
            if inst.name == "web":  # virtio-net 0000:09:00.0, MSI-X vectors 0-2
                vec = self.rng.randint(0, 2)
                return mk_message(MK_MSG_IO, MK_IO_IRQ_FORWARD, pack("mk_io_irq_payload", 24 + vec, vec, 0x0900,
                                                                      MK_IRQ_LOW_LATENCY | MK_IRQ_EDGE_TRIGGERED))
            return mk_message(MK_MSG_IO, MK_IO_IRQ_FORWARD, pack("mk_io_irq_payload", 4, 0, 0, MK_IRQ_EDGE_TRIGGERED))
        if kind == "vsock":
            if inst.name == "web":
                return self.vsock(0, inst.id, 49152 + n % 16, 80, "GET /status/%d HTTP/1.0\r\n" % n)
            return self.vsock(0, inst.id, 49152 + n % 16, 5432, "SELECT seq FROM t WHERE id = %d;" % n)
        if kind == "credit":
            return self.vsock(0, inst.id, 49152 + n % 16, 80 if inst.name == "web" else 5432, "", credit=True)
        if kind == "input":
            return mktty_message(1, 0, "uptime\n" if inst.name == "web" else "cat /run/mk/db.seq\n")
        if kind == "cpu":
            sub = MK_RES_CPU_ADD if self.flip((inst.name, kind)) else MK_RES_CPU_REMOVE
            return mk_message(MK_MSG_RESOURCE, sub, pack("mk_cpu_resource_payload", 7, 0, 0, 0))
        if kind == "mem":
            sub = MK_RES_MEM_ADD if self.flip((inst.name, kind)) else MK_RES_MEM_REMOVE
            pfn = 0x120000000 >> 12 if inst.name == "web" else 0x170000000 >> 12
            return mk_message(MK_MSG_RESOURCE, sub, pack("mk_mem_resource_payload", pfn, 0x8000, 0, MK_MEM_NORMAL, 0))
        if kind == "device":
            sub = MK_RES_DEVICE_ADD if self.flip((inst.name, kind)) else MK_RES_DEVICE_REMOVE
            dom, bus, devfn = self.device(inst)
            return mk_message(MK_MSG_RESOURCE, sub, pack("mk_device_resource_payload", dom, bus, devfn, 0,
                                                         b"virtio-pci", 0))
        raise ValueError(kind)

    def spawn_to_host(self, inst, kind):
        """A message instance inst sends to the host."""
        if kind == "console":
            self.ticks[inst.name] += 1
            t = self.ticks[inst.name]
            if t % 5 == 0:
                text = ("%s console: %d requests served\n" % (inst.name, 3 * t) if inst.name == "web"
                        else "%s console: checkpoint %d written\n" % (inst.name, t))
            else:
                text = "%s console: tick %d\n" % (inst.name, t)
            return mktty_message(2, inst.id, text)
        if kind == "ack":
            if self.acks[inst.name]:
                op, rid = self.acks[inst.name].pop(0)
            else:  # nothing owed: acknowledge a CPU add of CPU 7
                op, rid = MK_RES_CPU_ADD, 7
            if op == MK_SYS_SHUTDOWN:
                return mk_message(MK_MSG_SYSTEM, MK_SYS_SHUTDOWN_ACK, pack("mk_resource_ack", op, 0, inst.id))
            result = 0 if self.rng.random() < 0.85 else (-16) & 0xffffffff   # -EBUSY as u32
            return mk_message(MK_MSG_RESOURCE, MK_RES_ACK, pack("mk_resource_ack", op, result, rid))
        if kind == "halted":
            return mk_message(MK_MSG_SYSTEM, MK_SYS_HALTED, pack("mk_resource_ack", MK_SYS_SHUTDOWN, 0, inst.id))
        if kind == "shutdown_ack":
            return mk_message(MK_MSG_SYSTEM, MK_SYS_SHUTDOWN_ACK, pack("mk_resource_ack", MK_SYS_SHUTDOWN, 0, inst.id))
        if kind == "vsock":
            if inst.name == "web":
                return self.vsock(inst.id, 0, 80, 49152 + self.ticks[inst.name] % 16, "HTTP/1.0 200 OK\r\n")
            return self.vsock(inst.id, 0, 5432, 49152 + self.ticks[inst.name] % 16, "seq=%d" % self.ticks[inst.name])
        raise ValueError(kind)

    # every kind in turn every few messages, so all of them stay in each ring's 64 slots
    TO_SPAWN = ["heartbeat", "irq", "cpu", "mem", "device", "vsock", "input", "cpu", "mem", "device", "shutdown",
                "credit"]
    TO_SPAWN_W = [("heartbeat", 20), ("irq", 20), ("vsock", 20), ("input", 6), ("cpu", 6), ("mem", 5),
                  ("device", 4), ("credit", 3), ("shutdown", 1)]
    TO_HOST = ["console", "ack", "vsock", "shutdown_ack", "halted"]
    TO_HOST_W = [("console", 60), ("vsock", 20), ("ack", 6), ("halted", 1)]

    def pick(self, weighted):
        x = self.rng.random() * sum(w for _, w in weighted)
        for k, w in weighted:
            x -= w
            if x < 0:
                return k
        return weighted[-1][0]

    def next_message(self, ring):
        """(sender_cpu, (bytes, slot type)) of the next message into ring."""
        n = self.count[ring.name]
        self.count[ring.name] += 1
        if ring is self.host:
            inst = self.spawns[n % len(self.spawns)] if self.rng.random() < 0.5 else self.rng.choice(self.spawns)
            if n % 4 == 3:
                kind = self.TO_HOST[(n // 4) % len(self.TO_HOST)]
            elif self.acks[inst.name] and self.rng.random() < 0.7:
                kind = "ack"
            else:
                kind = self.pick(self.TO_HOST_W)
            return self.rng.choice(inst.cpus), self.spawn_to_host(inst, kind)
        if n % 4 == 3:
            kind = self.TO_SPAWN[(n // 4) % len(self.TO_SPAWN)]
        else:
            kind = self.pick(self.TO_SPAWN_W)
        return self.rng.choice(self.host.cpus), self.host_to_spawn(ring, kind)

    # --- the protocol
    def produce(self, ring):
        h, t = ring.head, ring.tail
        if (h + 1) & (SLOTS - 1) == t:
            return False  # full (-ENOSPC); never happens with CAP
        cpu, (data, stype) = self.next_message(ring)
        ring.head = (h + 1) & (SLOTS - 1)                       # claim
        o = ring.slot_off(h)
        struct.pack_into("<QI", ring.mm, o, cpu, stype)         # fill
        ring.mm[o + BUFFER_OFF:o + BUFFER_OFF + len(data)] = data
        if ring.name not in self.unpub and self.rng.random() < UNPUBLISHED_P:
            self.unpub[ring.name] = [h, len(data), self.rng.randint(3, 12)]
        else:
            ring.set_data_size(h, len(data))                    # publish
        return True

    def consume(self, ring, k):
        """The owner of ring handles up to k messages, keeping LOW pending."""
        for _ in range(k):
            pend = ring.pending()
            if len(pend) <= LOW:
                return
            i = pend[0]
            size = ring.data_size(i)
            if size == 0:
                return  # claimed, not yet published: stop
            if size <= MAX_DATA:
                self.handle(ring, i)
            ring.set_data_size(i, 0)
            ring.tail = (i + 1) & (SLOTS - 1)

    def handle(self, ring, i):
        """What the receiving kernel does with a message: spawns owe the host replies."""
        if ring is self.host:
            return
        o = ring.slot_off(i)
        stype = struct.unpack_from("<I", ring.mm, o + TYPE_OFF)[0]
        if stype != MK_MSG_RESOURCE and stype != MK_MSG_SYSTEM:
            return
        _, sub, _, plen = MK_MESSAGE.unpack_from(ring.mm, o + BUFFER_OFF)
        payload = bytes(ring.mm[o + BUFFER_OFF + 20:o + BUFFER_OFF + 20 + plen])
        if sub == MK_SYS_SHUTDOWN:
            self.acks[ring.name].append((MK_SYS_SHUTDOWN, ring.id))
        elif sub in (MK_RES_CPU_ADD, MK_RES_CPU_REMOVE, MK_RES_MEM_ADD, MK_RES_MEM_REMOVE):
            self.acks[ring.name].append((sub, struct.unpack_from("<Q", payload)[0]))
        elif sub in (MK_RES_DEVICE_ADD, MK_RES_DEVICE_REMOVE):
            dom, bus, devfn = struct.unpack_from("<HBB", payload)
            self.acks[ring.name].append((sub, (dom << 16) | (bus << 8) | devfn))

    def step(self, ring):
        if not ring.sane():
            return  # corrupted (or foreign) ring: hands off
        u = self.unpub.get(ring.name)
        if u:
            u[2] -= 1
            if u[2] <= 0 or u[0] not in ring.pending():
                if u[0] in ring.pending():
                    ring.set_data_size(u[0], u[1])  # the slow sender publishes at last
                del self.unpub[ring.name]
        n = len(ring.pending())
        if n >= HIGH:
            self.consume(ring, self.rng.randint(4, 10))
        elif n <= LOW + 1 or self.rng.random() < 0.6:
            if n < CAP:
                self.produce(ring)
        else:
            self.consume(ring, self.rng.randint(1, 3))


# ------------------------------------------------------------------ commands

class Lock:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def write_json(path, obj):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def daemon_pid(sh):
    try:
        with open(sh.file("pid")) as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    if any(a.endswith(b"mk_traffic.py") for a in args) and b"run" in args:
        return pid
    return None


def snapshot(sh, written_by):
    """The state file's content (call with the lock held)."""
    corrupt = read_json(sh.file("corrupt.json"), {})
    pid = daemon_pid(sh)
    paused = os.path.exists(sh.file("paused"))
    info = read_json(sh.file("ready"), {})
    return {"format": "mkdbg-lab-traffic", "version": 1,
            "state": "paused" if paused else ("running" if pid else "stopped"),
            "written_by": written_by, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pid": pid, "seed": info.get("seed"),
            "shared": {"path": sh.path, "phys": sh.base, "size": sh.cfg["shared"]["size"]},
            "layout": LAYOUT,
            "rings": [r.snapshot(corrupt.get(r.name)) for r in sh.rings]}


def save_state(sh, written_by):
    state = snapshot(sh, written_by)
    write_json(sh.file("json"), state)
    return state


def cmd_run(cfg, seed):
    sh = Shared(cfg, write=True)
    tr = Traffic(sh, seed)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    lock = Lock(sh.file("lock"))
    paused = sh.file("paused")
    with open(sh.file("pid.tmp"), "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(sh.file("pid.tmp"), sh.file("pid"))
    rng = random.Random(seed ^ 0x5eed)
    with lock:
        for _ in range(100):  # warm-up: history and pending messages in every ring at once
            for r in sh.rings:
                if not os.path.exists(paused):
                    tr.step(r)
    write_json(sh.file("ready"), {"pid": os.getpid(), "seed": seed})
    sys.stderr.write("mk_traffic: running, seed %d, rings %s\n" % (seed, " ".join(
        "%s@%#x" % (r.name, r.phys) for r in sh.rings)))
    now = time.monotonic()
    due = {r.name: now + rng.uniform(0.05, 0.2) for r in sh.rings}
    while not stop:
        if sh.unlinked() or not os.path.exists(cfg):
            sys.stderr.write("mk_traffic: the lab is gone; exiting\n")
            return
        name = min(due, key=due.get)
        delay = due[name] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            if stop:
                break
        due[name] = time.monotonic() + rng.uniform(0.05, 0.2)
        with lock:
            if not os.path.exists(paused):
                tr.step(sh.by_name[name])
    sys.stderr.write("mk_traffic: stopped\n")


def summary(state):
    out = ["traffic: %s (pid %s, seed %s)" % (state["state"], state["pid"] or "-", state["seed"])]
    for r in state["rings"]:
        line = "%-5s %#x head %d tail %d pending %d (%d unpublished) consumed-in-memory %d" % (
            r["name"], r["phys"], r["head"], r["tail"], r["pending_count"], r["unpublished_count"],
            len(r["consumed"]))
        if r["corrupted"]:
            c = r["corrupted"]
            line += " CORRUPTED (head %d->%d, slot %d data_size %d->%d)" % (
                c["head"], c["head_written"], c["slot"], c["data_size"], c["data_size_written"])
        out.append(line)
        for s in r["pending"]:
            out.append("  %2d cpu %d %-15s size %4d %s" % (s["index"], s["sender_cpu"], s["type_name"],
                                                           s["data_size"], describe(s)))
    return "\n".join(out)


def describe(s):
    m = s["message"]
    if m is None:
        return "?"
    if m["format"] == "mktty_message":
        return "%s console %d %r" % (m["type_name"], m["console_id"], m["text"])
    p = m["payload"]
    rest = ""
    if p:
        rest = " " + " ".join("%s=%s" % (k, repr(v) if isinstance(v, str) else v)
                              for k, v in p.items() if k not in ("struct", "data_hex", "operation_name"))
    return "%s%s" % (m["msg_subtype_name"], rest)


def cmd_pause(cfg, unpublished, timeout):
    sh = Shared(cfg)
    lock = Lock(sh.file("lock"))
    flag = sh.file("paused")
    end = time.monotonic() + timeout
    while True:
        with lock:
            if not unpublished or any(r.sane() and any(r.data_size(k) == 0 for k in r.pending()) for r in sh.rings):
                open(flag, "w").close()
                state = save_state(sh, "pause")
                break
        if time.monotonic() > end:
            raise SystemExit("mk_traffic: no unpublished slot within %gs" % timeout)
        time.sleep(0.02)
    print(summary(state))


def cmd_resume(cfg):
    sh = Shared(cfg, write=True)
    with Lock(sh.file("lock")):
        for name in list(read_json(sh.file("corrupt.json"), {})):
            repair(sh, name)
        try:
            os.unlink(sh.file("paused"))
        except FileNotFoundError:
            pass
        state = save_state(sh, "resume")
    print("traffic: %s" % state["state"])


def cmd_status(cfg, as_json):
    sh = Shared(cfg)
    with Lock(sh.file("lock")):
        state = save_state(sh, "status")
    print(json.dumps(state, indent=1) if as_json else summary(state))


def cmd_corrupt(cfg, name):
    sh = Shared(cfg, write=True)
    ring = sh.by_name.get(name) or die("no ring %r (rings: %s)" % (name, " ".join(sh.by_name)))
    with Lock(sh.file("lock")):
        if not os.path.exists(sh.file("paused")):
            die("the traffic is not paused: scripts/lab traffic pause first")
        saved = read_json(sh.file("corrupt.json"), {})
        if name in saved:
            die("ring %s is already corrupted" % name)
        pub = [k for k in ring.pending() if ring.data_size(k) != 0]
        if not pub:
            die("ring %s has no published pending slot" % name)
        k = pub[0]
        c = {"head": ring.head, "head_written": ring.head + SLOTS, "slot": k, "data_size": ring.data_size(k),
             "data_size_written": 5000}
        saved[name] = c
        write_json(sh.file("corrupt.json"), saved)
        ring.head = c["head_written"]
        ring.set_data_size(k, c["data_size_written"])
        state = save_state(sh, "corrupt")
    print(summary(state))


def repair(sh, name):
    saved = read_json(sh.file("corrupt.json"), {})
    c = saved.pop(name, None)
    if c is None:
        return False
    ring = sh.by_name[name]
    ring.set_data_size(c["slot"], c["data_size"])
    ring.head = c["head"]
    if saved:
        write_json(sh.file("corrupt.json"), saved)
    else:
        os.unlink(sh.file("corrupt.json"))
    return True


def cmd_repair(cfg, name):
    sh = Shared(cfg, write=True)
    if name not in sh.by_name:
        die("no ring %r (rings: %s)" % (name, " ".join(sh.by_name)))
    with Lock(sh.file("lock")):
        if not repair(sh, name):
            die("ring %s is not corrupted" % name)
        state = save_state(sh, "repair")
    print(summary(state))


def die(msg):
    raise SystemExit("mk_traffic: " + msg)


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    cmd, cfg, rest = argv[0], argv[1], argv[2:]
    if not os.path.exists(cfg):
        die("%s is missing: the multikernel lab is down" % cfg)
    if cmd == "run":
        seed = 1
        if rest[:1] == ["--seed"] and len(rest) == 2:
            seed = int(rest[1])
        elif rest:
            die("usage: run CONFIG [--seed N]")
        cmd_run(cfg, seed)
    elif cmd == "pause":
        unpublished, timeout = False, 20.0
        while rest:
            if rest[0] == "--unpublished":
                unpublished, rest = True, rest[1:]
            elif rest[0] == "--timeout" and len(rest) > 1:
                timeout, rest = float(rest[1]), rest[2:]
            else:
                die("usage: pause CONFIG [--unpublished] [--timeout S]")
        cmd_pause(cfg, unpublished, timeout)
    elif cmd == "resume" and not rest:
        cmd_resume(cfg)
    elif cmd == "status" and rest in ([], ["--json"]):
        cmd_status(cfg, bool(rest))
    elif cmd in ("corrupt", "repair") and len(rest) == 1:
        (cmd_corrupt if cmd == "corrupt" else cmd_repair)(cfg, rest[0])
    else:
        die("unknown command or arguments: %s (see --help)" % " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
