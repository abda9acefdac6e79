"""Point-in-time capture of one local shard, without stalling writes for long.

Under the shard's lock the shard is flushed (every applied write reaches its segments' files
and the manifest), then every file the manifest needs is hard-linked into a work directory and
its size recorded. The lock is then released and writes go on. The engine's data files are
append-only (vectors, payloads, WAL) or written once under a new name (segment state, graphs,
quantized data), so the linked file's first `size` bytes stay exactly what they were at the
capture, whatever is appended or renamed later; a file the shard deletes afterwards lives on
through the link. The archive is then written from the work directory, outside the lock.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from node.engine.shard import MANIFEST, LocalShard
from node.errors import Unavailable


@dataclass(frozen=True)
class CapturedFile:
    relative: str  # path inside the shard's directory, with "/" separators
    path: Path  # the linked (or copied) file in the work directory
    size: int  # bytes that belong to the capture


def capture_shard(shard: LocalShard, work: Path) -> list[CapturedFile]:
    """Link the files of `shard`'s current committed state into `work` (an empty directory on
    the shard's filesystem) and return them with their captured sizes."""
    with shard.lock:
        if shard._closed:  # noqa: SLF001 - a closed shard has nothing to capture
            raise Unavailable("the shard is closed")
        shard.flush(force=True)
        manifest_path = shard.path / MANIFEST
        wanted: list[str] = []
        if manifest_path.exists():
            # What the manifest lists is what a node opening these files loads.
            wanted.append(MANIFEST)
            listed = json.loads(manifest_path.read_bytes()).get("segments", [])
            by_id = {segment.id: segment for segment in shard.segments}
            for entry in listed:
                segment = by_id.get(entry["id"])
                if segment is None or segment.generation != entry["generation"]:
                    raise Unavailable("the shard changed during its flush; try again")
                wanted.extend(_segment_files(shard.path, segment))
        wanted.extend(_wal_files(shard.path))
        captured = [_link(shard.path / name, work / name, name) for name in wanted]
    return captured


def _segment_files(root: Path, segment) -> list[str]:
    """The files the manifest's generation of `segment` reads: its state file, its data files,
    and the graphs and quantized data its state lists (never a build still in progress)."""
    keep = segment.derived_files()
    names: list[str] = []
    base = segment.directory.relative_to(root).as_posix()
    for entry in sorted(segment.directory.rglob("*")):
        if not entry.is_file():
            continue
        name = entry.relative_to(segment.directory).as_posix()
        top = name.split("/", 1)[0]
        if name.endswith(".tmp"):
            continue
        if top.startswith("state-") and top != f"state-{segment.generation}.pkl":
            continue
        if top.startswith(("hnsw-", "quant-")) and top not in keep:
            continue
        names.append(f"{base}/{name}")
    return names


def _wal_files(root: Path) -> list[str]:
    wal = root / "wal"
    if not wal.is_dir():
        return []
    return [f"wal/{p.name}" for p in sorted(wal.iterdir())
            if p.name.startswith("wal-") and not p.name.startswith("wal-ahead-")]


def _link(source: Path, target: Path, relative: str) -> CapturedFile:
    target.parent.mkdir(parents=True, exist_ok=True)
    size = source.stat().st_size
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: a copy, still under the lock
        shutil.copyfile(source, target)
    return CapturedFile(relative, target, size)


def read_shard_manifest(files: list[CapturedFile]) -> dict:
    for f in files:
        if f.relative == MANIFEST:
            return json.loads(f.path.read_bytes()[: f.size])
    return {}
