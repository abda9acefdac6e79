"""The snapshots directory: where archives are named, listed, written atomically and removed.

Collection snapshots live in `<dir>/<collection>/`, shard snapshots in
`<dir>/<collection>/shards/<shard id>/`, full-storage snapshots in `<dir>/` itself. Beside each
`X.snapshot` a `X.snapshot.checksum` file holds its sha256. An archive is written as a hidden
`.X.snapshot.partial` and renamed when complete, so a listed name is always a whole archive;
partial files of an interrupted write are removed when the node starts.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from node.engine.durable_files import fsync_dir, write_atomic
from node.errors import BadRequest, NotFound

SUFFIX = ".snapshot"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}$")
PARTIAL = ".partial"


def check_name(name: str) -> str:
    """A snapshot or collection name usable as one file name inside the snapshots directory."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise BadRequest(f"invalid snapshot name {name!r}: letters, digits, '.', '_' and '-' "
                         "only, not starting with '.'")
    return name


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def folder(self, collection: str | None = None, shard_id: int | None = None) -> Path:
        folder = self.root
        if collection is not None:
            folder = folder / check_name(collection)
        if shard_id is not None:
            folder = folder / "shards" / str(int(shard_id))
        return folder

    def path_of(self, folder: Path, name: str) -> Path:
        path = folder / check_name(name)
        if not path.name.endswith(SUFFIX) or not path.is_file():
            raise NotFound(f"Snapshot {name} not found")
        return path

    def new_name(self, prefix: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")
        return f"{prefix}-{stamp}-{secrets.token_hex(2)}{SUFFIX}"

    def partial_path(self, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".{name}{PARTIAL}"

    def commit(self, partial: Path, final: Path, checksum: str) -> None:
        """Make a fully written (and fsynced) partial file the snapshot `final`."""
        write_atomic(final.with_name(final.name + ".checksum"), checksum.encode())
        os.replace(partial, final)
        fsync_dir(final.parent)

    def describe(self, path: Path) -> dict:
        stat = path.stat()
        checksum_file = path.with_name(path.name + ".checksum")
        checksum = checksum_file.read_text().strip() if checksum_file.exists() else None
        created = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
        return {"name": path.name, "creation_time": created.strftime("%Y-%m-%dT%H:%M:%S"),
                "size": stat.st_size, "checksum": checksum}

    def list(self, folder: Path) -> list[dict]:
        if not folder.is_dir():
            return []
        found = [p for p in folder.iterdir() if p.name.endswith(SUFFIX) and p.is_file()
                 and not p.name.startswith(".")]
        return [self.describe(p) for p in sorted(found, key=lambda p: p.name)]

    def delete(self, path: Path) -> None:
        path.with_name(path.name + ".checksum").unlink(missing_ok=True)
        path.unlink()
        fsync_dir(path.parent)

    def checksum_of(self, path: Path) -> str | None:
        checksum_file = path.with_name(path.name + ".checksum")
        return checksum_file.read_text().strip() if checksum_file.exists() else None

    def inside(self, path: Path) -> Path:
        """`path` resolved, refused unless it is a file inside the snapshots directory."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise BadRequest("a file:// snapshot location must be inside the node's snapshots "
                             "directory")
        if not resolved.is_file():
            raise NotFound(f"snapshot file {path.name} not found")
        return resolved

    def remove_partials(self) -> None:
        """Remove what interrupted writes left (partial archives, downloads)."""
        if not self.root.is_dir():
            return
        for path in self.root.rglob(f".*{PARTIAL}"):
            path.unlink(missing_ok=True)
