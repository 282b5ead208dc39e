"""The lab multikernel's kernfs look-alike over FUSE (mklab.py serve; needs python3-pyfuse3): the
FUSE operations on mk_kernfs_files.py's tree, mounted at ROOT/sys/fs/multikernel until a signal."""

import errno
import os
import signal
import struct
import traceback

import pyfuse3
import trio

from mk_kernfs_files import WRITABLE, Files
from mk_layout import PAGE, load_json, log
from mk_live import Lab

FUSEError = pyfuse3.FUSEError


class Handle:
    def __init__(self, node):
        self.node, self.data, self.kcore = node, None, None


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


class Ops(pyfuse3.Operations):
    """The FUSE requests: lookups and attributes from Files, reads and writes through open handles;
    anything that would change the tree is refused."""
    enable_writeback_cache = False

    def __init__(self, files):
        super().__init__()
        self.files = files
        self.handles = {}
        self.next_fh = 1

    @guard
    async def lookup(self, parent_inode, name, ctx=None):
        p = self.files.node(parent_inode)
        if name == b".":
            return self.files.attrs(p)
        if name == b"..":
            return self.files.attrs(self.files.nodes[p.parent] if p.parent else p)
        c = p.children.get(name)
        if c is None:
            raise FUSEError(errno.ENOENT)
        return self.files.attrs(c)

    @guard
    async def getattr(self, inode, ctx=None):
        return self.files.attrs(self.files.node(inode))

    @guard
    async def setattr(self, inode, attr, fields, fh, ctx):
        n = self.files.node(inode)
        if fields.update_mode or fields.update_uid or fields.update_gid:
            raise FUSEError(errno.EPERM)
        if fields.update_size and n.kind not in WRITABLE:
            raise FUSEError(errno.EACCES)
        return self.files.attrs(n)  # truncation of a writable attribute file is a no-op (kernfs)

    @guard
    async def opendir(self, inode, ctx):
        n = self.files.node(inode)
        if n.kind != "dir":
            raise FUSEError(errno.ENOTDIR)
        return inode

    @guard
    async def readdir(self, fh, start_id, token):
        n = self.files.node(fh)
        kids = list(n.children.values())
        for i in range(start_id, len(kids)):
            if not pyfuse3.readdir_reply(token, kids[i].name.encode(), self.files.attrs(kids[i]), i + 1):
                break

    async def releasedir(self, fh):
        pass

    @guard
    async def open(self, inode, flags, ctx):
        n = self.files.node(inode)
        if n.kind == "dir":
            raise FUSEError(errno.EISDIR)
        acc = flags & os.O_ACCMODE
        if acc in (os.O_WRONLY, os.O_RDWR) and n.kind not in WRITABLE:
            raise FUSEError(errno.EACCES)
        if acc in (os.O_RDONLY, os.O_RDWR) and not n.readable():
            raise FUSEError(errno.EACCES)
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = Handle(n)
        fi = pyfuse3.FileInfo(fh=fh)
        fi.direct_io = True   # live content: never the page cache
        fi.keep_cache = False
        return fi

    def open_handle(self, fh):
        """The handle of an open file; EBADF for one never opened or released."""
        h = self.handles.get(fh)
        if h is None:
            raise FUSEError(errno.EBADF)
        return h

    @guard
    async def read(self, fh, off, size):
        h = self.open_handle(fh)
        n = h.node
        if n.kind == "kcore":
            return await trio.to_thread.run_sync(self.files.read_kcore, h, off, size)
        if h.data is None or off == 0:
            h.data = await trio.to_thread.run_sync(self.files.text_of, n)
        return h.data[off:off + size]

    @guard
    async def write(self, fh, off, buf):
        h = self.open_handle(fh)
        n = h.node
        if n.kind == "freeze":
            return await trio.to_thread.run_sync(self.files.write_freeze, n.inst, buf)
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
        self.handles.pop(fh, None)

    @guard
    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = PAGE
        s.f_blocks = s.f_bfree = s.f_bavail = 0
        s.f_files = len(self.files.nodes)
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


async def run_until_signal():
    """pyfuse3's loop, ended (unmounting) by SIGTERM, SIGINT or SIGHUP."""
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


def serve(cfg_path):
    cfg = load_json(cfg_path)
    cfg["_path"] = cfg_path
    files = Files(cfg, Lab(cfg))
    mountpoint = os.path.join(cfg["root"], "sys", "fs", "multikernel")
    opts = set(pyfuse3.default_options)
    opts |= {"fsname=mkdbg-mk", "subtype=multikernel"}
    os.makedirs(mountpoint, exist_ok=True)
    pyfuse3.init(Ops(files), mountpoint, opts)
    ready = os.path.join(os.path.dirname(cfg_path), "server.ready")
    with open(ready, "w") as f:
        f.write("%d %s\n" % (os.getpid(), mountpoint))
    log("serving %s (pid %d)" % (mountpoint, os.getpid()))
    try:
        trio.run(run_until_signal)
    finally:
        pyfuse3.close(unmount=True)
        try:
            os.unlink(ready)
        except OSError:
            pass
        log("unmounted %s" % mountpoint)
