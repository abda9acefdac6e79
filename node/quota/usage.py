"""Readings of the two quota-managed resources on this node, as whole percentages.

Memory is the process's resident set against what it may use: the cgroup's memory limit
where one applies (a container), else the machine's memory. Disk is the filesystem holding
the storage directory, counted as used up to the space an unprivileged writer can no longer
use (blocks reserved for root count as used: the node cannot write them). A reading is taken
on every checked write, so it is a system call or two: the memory available, which takes a
walk through cgroup files, is looked up again only every LIMIT_SECONDS.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_PROC_STATM = Path("/proc/self/statm")
_PROC_CGROUP = Path("/proc/self/cgroup")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge number near 2**63.
_NO_V1_LIMIT = 1 << 60
LIMIT_SECONDS = 30.0
_limit_cache: tuple[float, int | None] = (float("-inf"), None)
# /proc/self/statm, opened once and read again in place (pread: any thread, no seek).
_statm_fd: int | None = None
_statm_lock = threading.Lock()


def percent_of(used: int, total: int) -> int | None:
    """`used` as a whole percentage of `total`, rounded down (a limit trips only once fully
    reached) and capped at 100; None when there is no total to compare with."""
    if total <= 0:
        return None
    return min(used * 100 // total, 100)


def resident_memory_percent() -> int | None:
    resident, available = resident_bytes(), memory_limit_bytes()
    if resident is None or available is None:
        return None
    return percent_of(resident, available)


def disk_usage_percent(path: Path) -> int | None:
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    total = stats.f_blocks * stats.f_frsize
    return percent_of(total - stats.f_bavail * stats.f_frsize, total)


def resident_bytes() -> int | None:
    global _statm_fd
    try:
        with _statm_lock:
            if _statm_fd is None:
                _statm_fd = os.open(_PROC_STATM, os.O_RDONLY)
        resident_pages = int(os.pread(_statm_fd, 256, 0).split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def memory_limit_bytes() -> int | None:
    """The memory this process may use: the machine's, or its cgroup's limit when lower."""
    global _limit_cache
    taken, limit = _limit_cache
    now = time.monotonic()
    if now - taken > LIMIT_SECONDS:
        limit = _memory_limit_now()
        _limit_cache = (now, limit)
    return limit


def _memory_limit_now() -> int | None:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return None
    limit = _cgroup_limit()
    return min(total, limit) if limit is not None else total


def _cgroup_limit() -> int | None:
    for candidate in _cgroup_limit_files():
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < _NO_V1_LIMIT:
            return int(text)
        return None  # "max": the cgroup sets no limit
    return None


def _cgroup_limit_files() -> list[Path]:
    """memory.max of this process's cgroup (v2) or memory.limit_in_bytes (v1), own first."""
    files = []
    try:
        lines = _PROC_CGROUP.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        relative = group.lstrip("/")
        if hierarchy == "0" and controllers == "":
            files.append(_CGROUP_ROOT / relative / "memory.max")
        elif "memory" in controllers.split(","):
            files.append(_CGROUP_ROOT / "memory" / relative / "memory.limit_in_bytes")
    files += [_CGROUP_ROOT / "memory.max", _CGROUP_ROOT / "memory" / "memory.limit_in_bytes"]
    return files
