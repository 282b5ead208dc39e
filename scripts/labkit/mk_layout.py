"""The lab multikernel's made-up host: where each instance, inbox and boot manifest sits, and
the small file helpers every lab module uses (see mklab.py's docstring for the address spaces)."""

import json
import os
import sys


PAGE = 4096

# ------------------------------------------------------------------ layout

# The made-up host: 8 CPUs (APIC ids 0-7), host keeps 0-1, pool is 2-7; 8 GiB of RAM with one
# 2 GiB pool chunk at 0x100000000.
HOST_CPUS = list(range(8))
HOST_OWN_CPUS = [0, 1]
POOL_CHUNKS = [(0x100000000, 0x80000000)]
LAYOUT = [
    # name, id, cpus (physical ids; guest vCPU k = cpus[k]), host-physical base, bytes
    {"name": "web", "id": 1, "cpus": [2, 3], "host_phys": 0x100000000, "bytes": 0x20000000},
    {"name": "db", "id": 2, "cpus": [4, 5], "host_phys": 0x140000000, "bytes": 0x20000000},
    {"name": "spare", "id": 3, "cpus": [6], "host_phys": 0x160000000, "bytes": 0x10000000},
]
SHARED_PHYS = 0x180000000          # lab-owned shared memory (a file in /dev/shm)
SHARED_SIZE = 0x400000             # 4 MiB: three inboxes, then three 256 KiB boot manifests
INBOX_STRIDE = 0x80000             # inbox of kernel id i at SHARED_PHYS + i * INBOX_STRIDE (host = 0)
INBOX_SIZE = 65 * PAGE             # sizeof(struct mk_shared_data) = 264208 -> 65 pages
MANIFEST_BASE = 0x200000           # boot manifest of instance id i at + (i - 1) * MANIFEST_SIZE
MANIFEST_SIZE = 0x40000            # MK_MANIFEST_SIZE, 256 KiB (include/linux/multikernel.h @ 223163d8)
HOST_TREE_MAX = 0x20000            # MK_HOST_TREE_MAX, 128 KiB: the most a user host tree may take
# The host's pool park set (park page, page tables, slot) at the top of the pool chunk, as
# mk_pool_park_regions() reports it; pool CPUs wait at the slot (multikernel,pool-slot).
POOL_PARK = (0x17fff8000, 0x8000)
POOL_SLOT = 0x17ffff000
# A /dev/dma_heap/multikernel buffer (downstream trees): a daxfs child of the pool in /proc/iomem,
# in the pool memory no instance holds.
DAXFS_BUFFER = (0x170000000, 0x4000000)

START_KERNEL_MAP = 0xffffffff80000000


def inbox_phys(kid):
    return SHARED_PHYS + kid * INBOX_STRIDE


def manifest_phys(kid):
    return SHARED_PHYS + MANIFEST_BASE + (kid - 1) * MANIFEST_SIZE


def load_json(path):
    with open(path) as f:
        return json.load(f)


def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def log(msg):
    sys.stderr.write("mklab: %s\n" % msg)
    sys.stderr.flush()
