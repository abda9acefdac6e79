"""A small real tmpfs for tests of a full disk (needs root to mount)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """Mount a tmpfs of `size_mb` at `path` for the block; skip the test where that is refused."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def disk_percent(path: Path) -> float:
    stats = os.statvfs(path)
    total = stats.f_blocks * stats.f_frsize
    return 100 * (total - stats.f_bavail * stats.f_frsize) / total


def fill_to(disk: Path, percent: float) -> None:
    """Grow or shrink a ballast file so the filesystem is `percent` full (as the node counts
    it: unwritable blocks are used ones)."""
    ballast = disk / "ballast"
    stats = os.statvfs(disk)
    total = stats.f_blocks * stats.f_frsize
    used = total - stats.f_bavail * stats.f_frsize
    size = ballast.stat().st_size if ballast.exists() else 0
    wanted = max(size + int(total * percent / 100) - used, 0)
    if wanted < size:
        os.truncate(ballast, wanted)
    else:
        with open(ballast, "ab") as out:
            out.write(b"\1" * (wanted - size))
    assert abs(disk_percent(disk) - percent) < 1, disk_percent(disk)
