"""Keep freed image buffers in the process heap instead of handing them back to the kernel.

The generator allocates and frees dozens of 2-7 MB float32 arrays per photo. With glibc's
defaults each one is mmap'ed or trimmed back to the kernel when freed, so every new array
page-faults its memory in again (measured: ~40 % of the CPU time of a photo on a loaded
machine went to those page faults). ``retain_freed_memory()`` sets glibc's mmap and trim
thresholds so the freed blocks are reused instead. It changes the allocator of the whole
process, so it is called explicitly by the dataset writer (and its workers) and the speed
benchmark, never on import. Elsewhere than glibc it does nothing and returns False.

Example: ``retain_freed_memory()`` -> True on Linux/glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap (a photo's largest is ~7 MB)
TRIM_THRESHOLD = 256 << 20  # keep up to this much freed heap before returning it


def retain_freed_memory() -> bool:
    """Set glibc malloc thresholds for this process; True when they were applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
