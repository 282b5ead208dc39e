"""The lab multikernel's kernfs look-alike over FUSE (mklab.py serve; needs python3-pyfuse3)."""

import errno
import os
import signal
import stat
import struct
import time
import traceback

from mk_core import core_headers
from mk_layout import PAGE, load_json, log
from mk_live import Lab
from qmp import QMPError


def serve(cfg_path):
    import pyfuse3
    import trio

    cfg = load_json(cfg_path)
    cfg["_path"] = cfg_path
    lab = Lab(cfg)
    mountpoint = os.path.join(cfg["root"], "sys", "fs", "multikernel")
    FUSEError = pyfuse3.FUSEError

    class Node:
        def __init__(self, ino, name, mode, parent, kind, inst=None):
            self.ino, self.name, self.mode, self.parent, self.kind, self.inst = ino, name, mode, parent, kind, inst
            self.children = {}

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
        for name, mode, kind in (("id", 0o444, "id"), ("status", 0o444, "status"),
                                 ("device_tree", 0o444, "inst_dt"), ("kcore", 0o400, "kcore"),
                                 ("vmcoreinfo", 0o444, "vmcoreinfo"), ("freeze", 0o644, "freeze"),
                                 ("events", 0o444, "events"), ("ipi_buffer", 0o444, "ipi")):
            add(d, name, F | mode, kind, inst)
    ovl = add(root, "overlays", D | 0o755, "dir")
    add(ovl, "new", F | 0o200, "overlay_new")

    WRITABLE = {"pool_dt", "freeze", "overlay_new"}
    READABLE = lambda n: n.mode & 0o444 != 0  # noqa: E731
    t0 = time.time_ns()

    def size_of(n):
        if n.kind == "dir":
            return 0
        if n.kind == "kcore":
            return lab.kcore_shape(n.inst)[2]
        if n.kind == "pool_dt":
            return 1 << 20
        if n.kind in ("inst_dt", "overlay_new"):
            return 0
        return 4096

    def attrs(n):
        e = pyfuse3.EntryAttributes()
        e.st_ino = n.ino
        e.st_mode = n.mode
        e.st_nlink = 2 + sum(1 for c in n.children.values() if c.kind == "dir") if n.kind == "dir" else 1
        e.st_uid = e.st_gid = 0
        e.st_size = size_of(n)
        e.st_blksize = PAGE
        e.st_blocks = 0
        e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = t0
        e.entry_timeout = 1.0
        e.attr_timeout = 0.0
        return e

    def hexpair(a, b):
        return ("%x %x\n" % (a, b)).encode()

    def text_of(n):
        """Content of a small file, generated now (seq_file style: on a read at offset 0)."""
        inst = n.inst
        if n.kind == "pool_dt":
            return lab.pool_dtb
        if n.kind == "host_ipi":
            return hexpair(*cfg["host_inbox"])
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

    class Handle:
        def __init__(self, node):
            self.node, self.data, self.kcore = node, None, None

    handles = {}
    next_fh = [1]

    def guard(fn):
        async def wrapped(self, *args):
            try:
                return await fn(self, *args)
            except FUSEError:
                raise
            except Exception:  # never let a handler take the file system down
                log("error in %s%r:\n%s" % (fn.__name__, args[:2], traceback.format_exc()))
                raise FUSEError(errno.EIO)
        wrapped.__name__ = fn.__name__
        return wrapped

    def node_of(ino):
        n = nodes.get(ino)
        if n is None:
            raise FUSEError(errno.ENOENT)
        return n

    class Ops(pyfuse3.Operations):
        enable_writeback_cache = False

        @guard
        async def lookup(self, parent_inode, name, ctx=None):
            p = node_of(parent_inode)
            if name == b".":
                return attrs(p)
            if name == b"..":
                return attrs(nodes[p.parent] if p.parent else p)
            c = p.children.get(name)
            if c is None:
                raise FUSEError(errno.ENOENT)
            return attrs(c)

        @guard
        async def getattr(self, inode, ctx=None):
            return attrs(node_of(inode))

        @guard
        async def setattr(self, inode, attr, fields, fh, ctx):
            n = node_of(inode)
            if fields.update_mode or fields.update_uid or fields.update_gid:
                raise FUSEError(errno.EPERM)
            if fields.update_size and n.kind not in WRITABLE:
                raise FUSEError(errno.EACCES)
            return attrs(n)  # truncation of a writable attribute file is a no-op (kernfs)

        @guard
        async def opendir(self, inode, ctx):
            n = node_of(inode)
            if n.kind != "dir":
                raise FUSEError(errno.ENOTDIR)
            return inode

        @guard
        async def readdir(self, fh, start_id, token):
            n = node_of(fh)
            kids = list(n.children.values())
            for i in range(start_id, len(kids)):
                if not pyfuse3.readdir_reply(token, kids[i].name.encode(), attrs(kids[i]), i + 1):
                    break

        async def releasedir(self, fh):
            pass

        @guard
        async def open(self, inode, flags, ctx):
            n = node_of(inode)
            if n.kind == "dir":
                raise FUSEError(errno.EISDIR)
            acc = flags & os.O_ACCMODE
            if acc in (os.O_WRONLY, os.O_RDWR) and n.kind not in WRITABLE:
                raise FUSEError(errno.EACCES)
            if acc in (os.O_RDONLY, os.O_RDWR) and not READABLE(n):
                raise FUSEError(errno.EACCES)
            fh = next_fh[0]
            next_fh[0] += 1
            handles[fh] = Handle(n)
            fi = pyfuse3.FileInfo(fh=fh)
            fi.direct_io = True   # live content: never the page cache
            fi.keep_cache = False
            return fi

        @guard
        async def read(self, fh, off, size):
            h = handles.get(fh)
            if h is None:
                raise FUSEError(errno.EBADF)
            n = h.node
            if n.kind == "kcore":
                return await trio.to_thread.run_sync(read_kcore, h, off, size)
            if h.data is None or off == 0:
                h.data = await trio.to_thread.run_sync(text_of, n)
            return h.data[off:off + size]

        @guard
        async def write(self, fh, off, buf):
            h = handles.get(fh)
            if h is None:
                raise FUSEError(errno.EBADF)
            n = h.node
            if n.kind == "freeze":
                return await trio.to_thread.run_sync(write_freeze, n.inst, buf)
            if n.kind == "pool_dt":
                if len(buf) < 40 or buf[:4] != b"\xd0\x0d\xfe\xed" or struct.unpack_from(">I", buf, 4)[0] != len(buf):
                    raise FUSEError(errno.EINVAL)
                raise FUSEError(errno.EBUSY)  # the baseline is applied
            if n.kind == "overlay_new":
                if off != 0 or len(buf) < 40 or buf[:4] != b"\xd0\x0d\xfe\xed":
                    raise FUSEError(errno.EINVAL)
                raise FUSEError(errno.EPERM)  # the lab's tree is read-only
            raise FUSEError(errno.EACCES)

        async def flush(self, fh):
            pass

        async def release(self, fh):
            handles.pop(fh, None)

        @guard
        async def statfs(self, ctx):
            s = pyfuse3.StatvfsData()
            s.f_bsize = s.f_frsize = PAGE
            s.f_blocks = s.f_bfree = s.f_bavail = 0
            s.f_files = len(nodes)
            s.f_ffree = s.f_favail = 0
            s.f_namemax = 255
            return s

        async def mkdir(self, parent_inode, name, mode, ctx):
            raise FUSEError(errno.EPERM)

        async def rmdir(self, parent_inode, name, ctx):
            raise FUSEError(errno.EPERM)

        async def unlink(self, parent_inode, name, ctx):
            raise FUSEError(errno.EPERM)

        async def create(self, parent_inode, name, mode, flags, ctx):
            raise FUSEError(errno.EPERM)

        async def mknod(self, parent_inode, name, mode, rdev, ctx):
            raise FUSEError(errno.EPERM)

        async def symlink(self, parent_inode, name, target, ctx):
            raise FUSEError(errno.EPERM)

        async def link(self, inode, new_parent_inode, new_name, ctx):
            raise FUSEError(errno.EPERM)

        async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
            raise FUSEError(errno.EPERM)

        async def setxattr(self, inode, name, value, ctx):
            raise FUSEError(errno.ENOTSUP)

        async def getxattr(self, inode, name, ctx):
            raise FUSEError(pyfuse3.ENOATTR)

        async def listxattr(self, inode, ctx):
            return []

    def read_kcore(h, off, size):
        inst = h.node.inst
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

    def write_freeze(inst, buf):
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

    opts = set(pyfuse3.default_options)
    opts |= {"fsname=mkdbg-mk", "subtype=multikernel"}
    os.makedirs(mountpoint, exist_ok=True)
    pyfuse3.init(Ops(), mountpoint, opts)
    ready = os.path.join(os.path.dirname(cfg_path), "server.ready")
    with open(ready, "w") as f:
        f.write("%d %s\n" % (os.getpid(), mountpoint))
    log("serving %s (pid %d)" % (mountpoint, os.getpid()))

    async def main():
        async with trio.open_nursery() as nursery:
            async def signals():
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as rx:
                    async for signum in rx:
                        log("signal %d: unmounting" % signum)
                        pyfuse3.terminate()
                        return
            nursery.start_soon(signals)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        pyfuse3.close(unmount=True)
        try:
            os.unlink(ready)
        except OSError:
            pass
        log("unmounted %s" % mountpoint)
