"""What machine this node runs on, as telemetry reports it (Qdrant's `RunningEnvironmentTelemetry`).

Read once per process: none of it changes while the node runs, except the disk size, which is
read on each call.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
from pathlib import Path

# The SIMD features the distance kernels can use, named as Qdrant names them; /proc/cpuinfo
# spells the last one with an underscore.
_CPU_FLAGS = {"sse": "sse", "sse2": "sse2", "avx": "avx", "avx2": "avx2", "fma": "fma",
              "f16c": "f16c", "avx512f": "avx512f", "avx512vl": "avx512vl",
              "avx512_vpopcntdq": "avx512vpopcntdq", "asimd": "neon", "fphp": "fp16"}


def running_environment(storage_path: str) -> dict:
    out = dict(_static_environment())
    with contextlib.suppress(OSError):
        out["disk_size"] = shutil.disk_usage(storage_path).total // 1024
    return out


@functools.cache
def _static_environment() -> dict:
    release = _os_release()
    out: dict = {
        "distribution": release.get("ID") or sys.platform,
        "distribution_version": release.get("VERSION_ID") or os.uname().release,
        "is_docker": Path("/.dockerenv").exists(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_flags": ",".join(_cpu_flags()),
        "cpu_endian": sys.byteorder,
    }
    ram = _ram_kib()
    if ram is not None:
        out["ram_size"] = ram
    return out


def _os_release() -> dict[str, str]:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    present: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present.update(line.split(":", 1)[1].split())
            break
    return [name for flag, name in _CPU_FLAGS.items() if flag in present]


def _ram_kib() -> int | None:
    """Memory this process may use: the cgroup limit where one is set, else the machine's."""
    total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            limit_kib = int(limit) // 1024
            total = limit_kib if total is None else min(total, limit_kib)
    except OSError:
        pass
    return total
