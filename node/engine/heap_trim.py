"""Handing heap memory that was freed back to the operating system.

glibc keeps freed memory in its arenas for reuse rather than returning it. After a merge drops
the graphs of its sources (hnswlib allocates a map node per point and link lists for the upper
levels, from each building thread's arena) and the Python objects of a copy, that memory stays
resident though nothing uses it (some 50 MiB of a green shard of 100k points) until
`malloc_trim` returns the free pages. With another C library this does nothing.
"""

from __future__ import annotations

import ctypes


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> None:
    """Return free heap pages to the OS (glibc only); cheap next to an optimization."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
