"""How the process manages its memory: glibc's allocator (where present) and the cyclic
garbage collector (see tune_garbage_collector).

Request parsing, segment growth and index builds run on worker threads, so their memory comes
from glibc's per-thread arenas. By default glibc raises its mmap threshold as large blocks are
freed (up to 32 MiB), so big temporary arrays land in those arenas, and malloc_trim only
shrinks the main one: after an ingest, most of what was freed stayed resident. Fixed
thresholds send large blocks to their own mappings (returned on free) and keep arenas few.
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
LARGE_BLOCK = 4 << 20  # blocks from this size get their own mapping; free tops trimmed past it
ARENAS = 4


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018  (glibc only: raises AttributeError elsewhere)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def configure_allocator() -> None:
    """Fix glibc's thresholds; call before any thread starts (arenas are made per thread)."""
    if _LIBC is None:
        return
    for param, value in ((M_MMAP_THRESHOLD, LARGE_BLOCK), (M_TRIM_THRESHOLD, LARGE_BLOCK),
                         (M_ARENA_MAX, ARENAS)):
        if _LIBC.mallopt(param, value) != 1:
            log.warning("mallopt(%d, %d) was refused", param, value)


# Container allocations between two young-generation collections (CPython's default: 700).
# A request makes hundreds of short-lived dicts and lists, so the default collected several
# times per request and the older generations, which scan every long-lived container, ran
# often: 4% of the batch query path's time in an in-process measurement. Cycles are rare here
# (requests free their objects by reference counting); collecting them later costs little.
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Collect cyclic garbage less often than CPython's default (see above)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def release_free_memory() -> None:
    """Give the free pages at the top of the main arena back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
