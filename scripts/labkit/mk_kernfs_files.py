"""The files of the lab multikernel's kernfs: the tree (inodes, names, kinds) and what each file
holds, generated from the live instances when it is read (mk_kernfs.py serves them over FUSE)."""

import errno
import stat
import time

import pyfuse3

from mk_core import core_headers
from mk_layout import PAGE, log
from mk_live import Lab
from qmp import QMPError

FUSEError = pyfuse3.FUSEError
WRITABLE = {"pool_dt", "freeze", "overlay_new"}
# the files of instances/<name>/: (name, mode, kind)
INSTANCE_FILES = (("id", 0o444, "id"), ("status", 0o444, "status"),
                  ("device_tree", 0o444, "inst_dt"), ("kcore", 0o400, "kcore"),
                  ("vmcoreinfo", 0o444, "vmcoreinfo"), ("freeze", 0o644, "freeze"),
                  ("events", 0o444, "events"), ("ipi_buffer", 0o444, "ipi"))


class Node:
    def __init__(self, ino, name, mode, parent, kind, inst=None):
        self.ino, self.name, self.mode, self.parent, self.kind, self.inst = ino, name, mode, parent, kind, inst
        self.children = {}

    def readable(self):
        return self.mode & 0o444 != 0


def build_tree(cfg):
    """{inode: Node} of sys/fs/multikernel: device_tree, ipi_buffer, instances/<name>/..., overlays/new."""
    nodes = {}

    def add(parent, name, mode, kind, inst=None):
        ino = pyfuse3.ROOT_INODE if parent is None else max(nodes) + 1
        n = Node(ino, name, mode, parent, kind, inst)
        nodes[ino] = n
        if parent is not None:
            nodes[parent].children[name.encode()] = n
        return ino

    D = stat.S_IFDIR
    F = stat.S_IFREG
    root = add(None, "", D | 0o755, "dir")
    add(root, "device_tree", F | 0o644, "pool_dt")
    add(root, "ipi_buffer", F | 0o444, "host_ipi")
    insts = add(root, "instances", D | 0o755, "dir")
    for inst in cfg["instances"]:
        d = add(insts, inst["name"], D | 0o755, "dir", inst)
        for name, mode, kind in INSTANCE_FILES:
            add(d, name, F | mode, kind, inst)
    ovl = add(root, "overlays", D | 0o755, "dir")
    add(ovl, "new", F | 0o200, "overlay_new")
    return nodes


def hexpair(a, b):
    return ("%x %x\n" % (a, b)).encode()


class Files:
    """The tree's attributes and contents, from the Lab (QEMU state and RAM files)."""

    def __init__(self, cfg, lab):
        self.cfg, self.lab = cfg, lab
        self.nodes = build_tree(cfg)
        self.t0 = time.time_ns()

    def node(self, ino):
        n = self.nodes.get(ino)
        if n is None:
            raise FUSEError(errno.ENOENT)
        return n

    def size_of(self, n):
        if n.kind == "dir":
            return 0
        if n.kind == "kcore":
            return self.lab.kcore_shape(n.inst)[2]
        if n.kind == "pool_dt":
            return 1 << 20
        if n.kind in ("inst_dt", "overlay_new"):
            return 0
        return 4096

    def attrs(self, n):
        e = pyfuse3.EntryAttributes()
        e.st_ino = n.ino
        e.st_mode = n.mode
        e.st_nlink = 2 + sum(1 for c in n.children.values() if c.kind == "dir") if n.kind == "dir" else 1
        e.st_uid = e.st_gid = 0
        e.st_size = self.size_of(n)
        e.st_blksize = PAGE
        e.st_blocks = 0
        e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = self.t0
        e.entry_timeout = 1.0
        e.attr_timeout = 0.0
        return e

    def text_of(self, n):
        """Content of a small file, generated now (seq_file style: on a read at offset 0)."""
        lab, inst = self.lab, n.inst
        if n.kind == "pool_dt":
            return lab.pool_dtb
        if n.kind == "host_ipi":
            return hexpair(*self.cfg["host_inbox"])
        if n.kind == "id":
            return b"%d\n" % inst["id"]
        if n.kind == "inst_dt":
            return lab.dtbs[inst["name"]]
        if n.kind == "status":
            return (Lab.status_of(inst, lab.run_state(inst)) + "\n").encode()
        if n.kind == "vmcoreinfo":
            return hexpair(*inst["vmcoreinfo"]) if "vmcoreinfo" in inst else b"0 0\n"
        if n.kind == "freeze":
            return b"%d\n" % lab.freeze_req[inst["name"]]
        if n.kind == "events":
            return b"frozen %d\n" % (1 if lab.run_state(inst) == "paused" else 0)
        if n.kind == "ipi":
            return hexpair(*inst["inbox"]) if "inbox" in inst else b"0 0\n"
        raise FUSEError(errno.EIO)

    def read_kcore(self, h, off, size):
        """Bytes of an instance's kcore: headers and notes built on a read at offset 0, then RAM."""
        lab, inst = self.lab, h.node.inst
        if h.kcore is None or off == 0:
            segs, start, total = lab.kcore_shape(inst)
            rs = lab.run_state(inst)
            head = core_headers(segs, lab.kcore_notes(inst, rs))
            h.kcore = (segs, start, total, head)
        segs, start, total, head = h.kcore
        if off >= total:
            return b""
        size = min(size, total - off)
        out = bytearray(size)
        if off < start:
            chunk = head[off:min(off + size, start)]
            out[:len(chunk)] = chunk
        if off + size > start:
            a = max(off, start)
            out[a - off:] = lab.read_segments(segs, a, off + size - a)
        return bytes(out)

    def write_freeze(self, inst, buf):
        """freeze: 1 stops an active instance's QEMU, 0 continues it."""
        lab = self.lab
        try:
            val = buf.decode().strip()
        except UnicodeDecodeError:
            raise FUSEError(errno.EINVAL)
        if val not in ("0", "1"):
            raise FUSEError(errno.EINVAL)
        rs = lab.run_state(inst)
        if Lab.status_of(inst, rs) != "active":
            raise FUSEError(errno.EINVAL)
        try:
            lab.qmp(inst, "stop" if val == "1" else "cont")
        except (OSError, QMPError, TimeoutError, ValueError) as e:
            log("freeze %s: %s" % (inst["name"], e))
            raise FUSEError(errno.EIO)
        lab.freeze_req[inst["name"]] = int(val)
        return len(buf)
