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
traffic.json (the state, scripts/labkit/README.md), traffic.corrupt.json (saved values of
corrupted rings), traffic.ready (written by `run` after its warm-up).

The rings use the newest upstream layout, read from mkdbg's layout files (symbols/layouts/*.json,
the highest rank, or MKDBG_TRAFFIC_LAYOUT = an era, alias or file): today 223163d8 (struct
mk_shared_data, upstream.md 4.6): head and tail (s32, kept masked to 0..63) at 0 and 4, 64 slots of
4120 bytes at 8 + k * 4120 (u64 sender_cpu, u32 type, size_t data_size at 16, buffer[4096] at 24),
force_halt at 263688, parked[512] at 263692; message names and payload structs from the same file.
Producers claim a slot by advancing head, fill it, and publish data_size last; the consumer stops at
a slot whose data_size is 0 (claimed, not published), clears data_size and advances tail. The
consumed slots keep their contents (only data_size is zeroed).
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

# The ring layout, the message names and the payload structs come from mkdbg's layout files
# (symbols/layouts/<era>.json, format in symbols/README.md): the newest era (highest rank), or
# MKDBG_TRAFFIC_LAYOUT (an era, an alias or a file's path).
LAYOUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "symbols", "layouts")
INT_FORMATS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s8": "b", "s16": "h", "s32": "i", "s64": "q"}


def num(v):
    return int(v, 0) if isinstance(v, str) else int(v)


def field_format(t):
    if t in INT_FORMATS:
        return INT_FORMATS[t]
    if t.endswith("]") and "[" in t and t.split("[")[0] in ("char", "u8"):
        return "%ds" % int(t[t.index("[") + 1:-1])
    raise SystemExit("mk_traffic: layout field type %r is not one of u8..s64, char[N], u8[N]" % t)


def load_layout(name=None):
    files = sorted(f for f in os.listdir(LAYOUT_DIR) if f.endswith(".json")) if os.path.isdir(LAYOUT_DIR) else []
    layouts = []
    for f in files:
        with open(os.path.join(LAYOUT_DIR, f)) as fh:
            d = json.load(fh)
        d["_path"] = os.path.join(LAYOUT_DIR, f)
        layouts.append(d)
    if name and ("/" in name or name.endswith(".json")):
        with open(name) as fh:
            d = json.load(fh)
        d["_path"] = name
        return d
    if name:
        for d in layouts:
            if d["era"] == name or name in d.get("aliases", []):
                return d
        raise SystemExit("mk_traffic: no ring layout %r in %s" % (name, LAYOUT_DIR))
    if not layouts:
        raise SystemExit("mk_traffic: no ring layout files in %s" % LAYOUT_DIR)
    return max(layouts, key=lambda d: num(d.get("rank", 0)))


L = load_layout(os.environ.get("MKDBG_TRAFFIC_LAYOUT") or None)
ERA = L["era"]
_ring, _slot = L["ring"], L["slot"]
SLOTS = num(_ring["slots"])
SLOT_SIZE = num(_slot["size"])
ENTRIES_OFF = num(_ring["entries"])
SENDER_OFF, TYPE_OFF, SIZE_OFF = (num(_slot[k]["offset"]) for k in ("sender_cpu", "type", "data_size"))
BUFFER_OFF, MAX_DATA = num(_slot["buffer"]["offset"]), num(_slot["buffer"]["size"])
SENDER_FMT, TYPE_FMT, SIZE_FMT = ("<" + INT_FORMATS[_slot[k]["type"]] for k in ("sender_cpu", "type", "data_size"))
HEAD_OFF, TAIL_OFF = num(_ring["head"]["offset"]), num(_ring["tail"]["offset"])
INDEX_FMT = "<" + INT_FORMATS[_ring["head"]["type"]]
FORCE_HALT_OFF = num(_ring["force_halt"]["offset"]) if "force_halt" in _ring else None
PARKED_OFF = num(_ring["parked"]["offset"]) if "parked" in _ring else None
PARKED_LEN = num(_ring["parked"]["size"]) if "parked" in _ring else 0
SHARED_DATA_SIZE = num(_ring["size"])           # sizeof(struct mk_shared_data)

LAYOUT = {"era": ERA, "slots": SLOTS, "slot_size": SLOT_SIZE, "entries_offset": ENTRIES_OFF,
          "sender_cpu_offset": SENDER_OFF, "type_offset": TYPE_OFF, "data_size_offset": SIZE_OFF,
          "buffer_offset": BUFFER_OFF, "buffer_size": MAX_DATA, "force_halt_offset": FORCE_HALT_OFF,
          "parked_offset": PARKED_OFF, "parked_size": PARKED_LEN, "sizeof": SHARED_DATA_SIZE}

# ------------------------------------------------------------------ messages (upstream names, from the layout)

SLOT_TYPES = {num(t["value"]): t["name"] for t in L["slot_types"]}
MSG_TYPES = {num(t["value"]): t["name"] for t in L["slot_types"] if t.get("decode") == "mk_message"}
SUBTYPES = {num(t["value"]): t["name"] for t in L["subtypes"]}
PAYLOAD_OF = {num(t["value"]): t["payload"] for t in L["subtypes"] if t.get("payload")}
ENUMS = {k: {num(v): n for v, n in t.items()} for k, t in L.get("enums", {}).items()}
_BY_NAME = {n: v for v, n in list(SLOT_TYPES.items()) + list(SUBTYPES.items())}


def value_of(name):
    if name not in _BY_NAME:
        raise SystemExit("mk_traffic: layout %s has no %s" % (ERA, name))
    return _BY_NAME[name]


MK_MSG_IO, MK_MSG_RESOURCE, MK_MSG_SYSTEM, MK_MSG_USER, MK_MSG_NETWORK = (
    value_of(n) for n in ("MK_MSG_IO", "MK_MSG_RESOURCE", "MK_MSG_SYSTEM", "MK_MSG_USER", "MK_MSG_NETWORK"))
MKTTY_IPI_TYPE = value_of("MKTTY_IPI_TYPE")
MK_IO_IRQ_FORWARD = value_of("MK_IO_IRQ_FORWARD")
MK_IO_MSI_MAP = _BY_NAME.get("MK_IO_MSI_MAP")   # 223163d8 and later
MK_IO_MSI_ACK = _BY_NAME.get("MK_IO_MSI_ACK")
MK_RES_CPU_ADD, MK_RES_CPU_REMOVE, MK_RES_MEM_ADD, MK_RES_MEM_REMOVE = (
    value_of(n) for n in ("MK_RES_CPU_ADD", "MK_RES_CPU_REMOVE", "MK_RES_MEM_ADD", "MK_RES_MEM_REMOVE"))
MK_RES_DEVICE_ADD, MK_RES_DEVICE_REMOVE, MK_RES_ACK = (
    value_of(n) for n in ("MK_RES_DEVICE_ADD", "MK_RES_DEVICE_REMOVE", "MK_RES_ACK"))
MK_SYS_HEARTBEAT, MK_SYS_SHUTDOWN, MK_SYS_SHUTDOWN_ACK, MK_SYS_HALTED = (
    value_of(n) for n in ("MK_SYS_HEARTBEAT", "MK_SYS_SHUTDOWN", "MK_SYS_SHUTDOWN_ACK", "MK_SYS_HALTED"))
MK_NET_VSOCK_PKT = value_of("MK_NET_VSOCK_PKT")
MKTTY_TYPES = ENUMS.get("mkty_type", {})
# flag values: include/linux/multikernel.h, include/uapi/linux/virtio_vsock.h
MK_SHUTDOWN_GRACEFUL = 1
MK_MEM_NORMAL = 1
MK_IRQ_LOW_LATENCY, MK_IRQ_EDGE_TRIGGERED = 0x02, 0x04
VIRTIO_VSOCK_TYPE_STREAM = 1
VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_CREDIT_UPDATE = 5, 6
ITS_TRANSLATER = 0x08090040     # GITS_TRANSLATER of a GICv3 ITS at 0x08080000 (QEMU virt): the MSI doorbell
LPI_BASE = 8192                 # the first LPI INTID


class Struct:
    """A struct of the layout: fields at their offsets, size with the padding."""

    def __init__(self, name, d):
        self.name, self.size = name, num(d["size"])
        self.fields = [(f["name"], num(f["offset"]), field_format(f["type"]), f.get("names")) for f in d["fields"]]
        t = d.get("trailer")
        self.trailer = (t.get("name", "data"), num(t["offset"])) if t else None

    def pack(self, *vals):
        if len(vals) != len(self.fields):
            raise ValueError("%s has %d fields, got %d values" % (self.name, len(self.fields), len(vals)))
        out = bytearray(self.size)
        for (_, off, fmt, _), v in zip(self.fields, vals):
            struct.pack_into("<" + fmt, out, off, v)
        return bytes(out)

    def unpack(self, buf, at=0):
        return [(n, struct.unpack_from("<" + fmt, buf, at + off)[0], names) for n, off, fmt, names in self.fields]

    @property
    def end(self):
        return max(off + struct.calcsize("<" + fmt) for _, off, fmt, _ in self.fields)


STRUCTS = {n: Struct(n, d) for n, d in L["structs"].items()}
MK_MESSAGE = STRUCTS["mk_message"]           # msg_type, msg_subtype, msg_id, payload_len; payload at the trailer
MK_MESSAGE_SIZEOF = MK_MESSAGE.size          # the sender sends sizeof(struct mk_message) + payload_len
MK_PAYLOAD_OFF = MK_MESSAGE.trailer[1]
MKTTY = STRUCTS["mktty_message"]             # type, console_id, len, reserved; data at the trailer
MKTTY_DATA_OFF = MKTTY.trailer[1]


def pack(name, *vals):
    return STRUCTS[name].pack(*vals)


def mk_message(msg_type, subtype, payload=b""):
    """The bytes mk_send_message() sends: header, payload at the trailer, sizeof + payload_len in all."""
    head = MK_MESSAGE.pack(msg_type, subtype, 0, len(payload))[:MK_PAYLOAD_OFF]
    return (head + payload + b"\0" * (MK_MESSAGE_SIZEOF - MK_PAYLOAD_OFF), msg_type)


def mktty_message(kind, console_id, text):
    data = text.encode("ascii")
    return (MKTTY.pack(kind, console_id, len(data), 0)[:MKTTY_DATA_OFF] + data, MKTTY_IPI_TYPE)

# ------------------------------------------------------------------ decoding


def name_in(table, v):
    if table == "subtypes":
        return SUBTYPES.get(v) or SLOT_TYPES.get(v)
    return ENUMS.get(table, {}).get(v)


def decode_payload(subtype, payload):
    name = PAYLOAD_OF.get(subtype)
    if name is None:
        return None
    st = STRUCTS[name]
    if len(payload) < st.end:
        return None
    out = {"struct": name}
    for f, v, names in st.unpack(payload):
        if isinstance(v, bytes):
            v = v.split(b"\0", 1)[0].decode("latin-1")
        out[f] = v
        n = name_in(names, v) if names and isinstance(v, int) else None
        if n is not None:
            out[f + "_name"] = n
    if st.trailer:
        tname, toff = st.trailer
        data = payload[toff:toff + out.get("len", len(payload) - toff)]
        out[tname] = data.decode("latin-1")
        out[tname + "_hex"] = data.hex()
    return out


def decode_buffer(stype, buf):
    """(message dict or None, size in bytes) of a slot's buffer, from the lengths inside it."""
    if stype in MSG_TYPES:
        msg_type, subtype, msg_id, plen = (v for _, v, _ in MK_MESSAGE.unpack(buf))
        size = MK_MESSAGE_SIZEOF + plen
        payload = buf[MK_PAYLOAD_OFF:MK_PAYLOAD_OFF + plen] if size <= MAX_DATA else b""
        return ({"format": "mk_message", "msg_type": msg_type, "msg_type_name": MSG_TYPES.get(msg_type),
                 "msg_subtype": subtype, "msg_subtype_name": SUBTYPES.get(subtype), "msg_id": msg_id,
                 "payload_len": plen, "payload": decode_payload(subtype, payload) if size <= MAX_DATA else None},
                min(size, MAX_DATA))
    if stype == MKTTY_IPI_TYPE:
        kind, console_id, n, reserved = (v for _, v, _ in MKTTY.unpack(buf))
        size = MKTTY_DATA_OFF + n
        data = buf[MKTTY_DATA_OFF:MKTTY_DATA_OFF + n] if size <= MAX_DATA else b""
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
        return struct.unpack_from(INDEX_FMT, self.mm, self.off + at)[0]

    @property
    def head(self):
        return self._i32(HEAD_OFF)

    @head.setter
    def head(self, v):
        struct.pack_into(INDEX_FMT, self.mm, self.off + HEAD_OFF, v)

    @property
    def tail(self):
        return self._i32(TAIL_OFF)

    @tail.setter
    def tail(self, v):
        struct.pack_into(INDEX_FMT, self.mm, self.off + TAIL_OFF, v)

    def slot_off(self, k):
        return self.off + ENTRIES_OFF + k * SLOT_SIZE

    def data_size(self, k):
        return struct.unpack_from(SIZE_FMT, self.mm, self.slot_off(k) + SIZE_OFF)[0]

    def set_data_size(self, k, v):
        struct.pack_into(SIZE_FMT, self.mm, self.slot_off(k) + SIZE_OFF, v)

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
        sender = struct.unpack_from(SENDER_FMT, self.mm, o + SENDER_OFF)[0]
        stype = struct.unpack_from(TYPE_FMT, self.mm, o + TYPE_OFF)[0]
        size = struct.unpack_from(SIZE_FMT, self.mm, o + SIZE_OFF)[0]
        buf = bytes(self.mm[o + BUFFER_OFF:o + BUFFER_OFF + MAX_DATA])
        msg, msize = decode_buffer(stype, buf)
        return {"index": k, "offset": ENTRIES_OFF + k * SLOT_SIZE, "phys": self.phys + ENTRIES_OFF + k * SLOT_SIZE,
                "sender_cpu": sender, "sender": self.owners.get(sender), "type": stype, "type_name": SLOT_TYPES.get(stype), "data_size": size,
                "published": size != 0, "message_size": msize, "message": msg, "bytes": buf[:msize].hex()}

    def snapshot(self, corrupt=None):
        head, tail = self.head, self.tail
        pend = [self.slot(k) for k in self.pending()]
        cons = [s for s in (self.slot(k) for k in self.others()) if s["type"] != 0]
        parked = self.mm[self.off + PARKED_OFF:self.off + PARKED_OFF + PARKED_LEN] if PARKED_OFF is not None else b""
        return {"name": self.name, "id": self.id, "phys": self.phys, "phys_hex": "%x" % self.phys,
                "size": self.size, "file_offset": self.off, "head": head, "tail": tail,
                "head_in_range": 0 <= head < SLOTS, "tail_in_range": 0 <= tail < SLOTS,
                "pending_count": len(pend), "unpublished_count": sum(1 for s in pend if not s["published"]),
                "force_halt": (struct.unpack_from("<I", self.mm, self.off + FORCE_HALT_OFF)[0]
                               if FORCE_HALT_OFF is not None else None),
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
        self.msi_owed = {r.name: [] for r in self.spawns}  # MSI_MAP requests the host has to answer
        self.msi_event = {r.name: 0 for r in self.spawns}  # next MSI event a spawn maps
        self.lpi = {}                                     # (spawn, rid, event) -> LPI INTID

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

    # MSI routing (223163d8): web's virtio-net 0000:09:00.0 (rid 0x900, 4 vectors), db's
    # 0000:0b:01.0 (rid 0xb08, 2 vectors)
    def msi_device(self, inst):
        return (0x0900, 4) if inst.name == "web" else (0x0b08, 2)

    def msi_map(self, inst):
        rid, nvecs = self.msi_device(inst)
        event = self.msi_event[inst.name]
        self.msi_event[inst.name] = (event + 1) % nvecs
        return mk_message(MK_MSG_IO, MK_IO_MSI_MAP, pack("mk_io_msi_payload", 0, rid, event, nvecs,
                                                         self.rng.choice(inst.cpus), 0, 0, inst.id))

    def msi_ack(self, inst):
        if self.msi_owed[inst.name]:
            p = self.msi_owed[inst.name].pop(0)
            domain, rid, event, nvecs, cpu = p["domain"], p["rid"], p["event"], p["nvecs"], p["phys_cpu"]
        else:  # nothing asked yet: the answer to the boot-time request for event 0
            rid, nvecs = self.msi_device(inst)
            domain, event, cpu = 0, 0, inst.cpus[0]
        if self.rng.random() < 0.85:
            key = (inst.name, rid, event)
            if key not in self.lpi:
                self.lpi[key] = LPI_BASE + len(self.lpi)
            result, doorbell = self.lpi[key], ITS_TRANSLATER
        else:
            result, doorbell = -28, 0      # -ENOSPC: no free LPI
        return mk_message(MK_MSG_IO, MK_IO_MSI_ACK, pack("mk_io_msi_payload", domain, rid, event, nvecs, cpu,
                                                         doorbell, result, 0))

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
        if kind == "msi_ack":
            return self.msi_ack(inst)
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
        if kind == "msi_map":
            return self.msi_map(inst)
        raise ValueError(kind)

    # every kind in turn every few messages, so all of them stay in each ring's 64 slots
    TO_SPAWN = ["heartbeat", "irq", "cpu", "mem", "device", "vsock", "input", "cpu", "mem", "device", "shutdown",
                "credit", "msi_ack"]
    TO_SPAWN_W = [("heartbeat", 20), ("irq", 20), ("vsock", 20), ("input", 6), ("cpu", 6), ("mem", 5),
                  ("device", 4), ("credit", 3), ("msi_ack", 3), ("shutdown", 1)]
    TO_HOST = ["console", "ack", "vsock", "shutdown_ack", "halted", "msi_map"]
    TO_HOST_W = [("console", 60), ("vsock", 20), ("ack", 6), ("msi_map", 4), ("halted", 1)]
    if MK_IO_MSI_MAP is None or MK_IO_MSI_ACK is None:   # a layout before 223163d8
        TO_SPAWN, TO_HOST = TO_SPAWN[:-1], TO_HOST[:-1]
        TO_SPAWN_W = [k for k in TO_SPAWN_W if k[0] != "msi_ack"]
        TO_HOST_W = [k for k in TO_HOST_W if k[0] != "msi_map"]

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
        elif self.msi_owed.get(ring.name) and self.rng.random() < 0.5:
            kind = "msi_ack"
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
        struct.pack_into(SENDER_FMT, ring.mm, o + SENDER_OFF, cpu)     # fill
        struct.pack_into(TYPE_FMT, ring.mm, o + TYPE_OFF, stype)
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
        """What the receiving kernel does with a message: spawns owe the host replies, and the
        host (owner of the interrupt translation unit) answers MSI routing requests."""
        o = ring.slot_off(i)
        stype = struct.unpack_from(TYPE_FMT, ring.mm, o + TYPE_OFF)[0]
        if stype not in (MK_MSG_RESOURCE, MK_MSG_SYSTEM, MK_MSG_IO):
            return
        _, sub, _, plen = (v for _, v, _ in MK_MESSAGE.unpack(ring.mm, o + BUFFER_OFF))
        payload = bytes(ring.mm[o + BUFFER_OFF + MK_PAYLOAD_OFF:o + BUFFER_OFF + MK_PAYLOAD_OFF + plen])
        name = PAYLOAD_OF.get(sub)
        if name is None or len(payload) < STRUCTS[name].end:
            return
        p = {f: v for f, v, _ in STRUCTS[name].unpack(payload)}
        if ring is self.host:
            if sub == MK_IO_MSI_MAP:
                spawn = next((r for r in self.spawns if r.id == p["sender_instance_id"]), None)
                if spawn is not None:
                    self.msi_owed[spawn.name].append(p)
            return
        if sub == MK_SYS_SHUTDOWN:
            self.acks[ring.name].append((MK_SYS_SHUTDOWN, ring.id))
        elif sub in (MK_RES_CPU_ADD, MK_RES_CPU_REMOVE):
            self.acks[ring.name].append((sub, p["cpu_id"]))
        elif sub in (MK_RES_MEM_ADD, MK_RES_MEM_REMOVE):
            self.acks[ring.name].append((sub, p["start_pfn"]))
        elif sub in (MK_RES_DEVICE_ADD, MK_RES_DEVICE_REMOVE):
            self.acks[ring.name].append((sub, (p["domain"] << 16) | (p["bus"] << 8) | p["devfn"]))

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
                              for k, v in p.items() if k != "struct" and not k.endswith(("_hex", "_name")))
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
