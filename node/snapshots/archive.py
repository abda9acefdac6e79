"""Flotilla's snapshot archive (format 1; docs/snapshots.md): writing and verified reading.

An archive is an uncompressed tar. Each collection it holds is a folder `collections/<n>/`
with `collection.json` (name, config, payload indexes) and `shards/<id>/` (the shard's files as
the engine keeps them). The last member, `flotilla-snapshot.json`, is the manifest: format name
and version, kind, and the size and sha256 of every other member. Reading extracts into an
empty directory, hashing as it goes, and refuses anything the manifest does not vouch for.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from node.errors import BadRequest

FORMAT = "flotilla-snapshot"
VERSION = 1
MANIFEST_NAME = "flotilla-snapshot.json"
KINDS = ("collection", "shard", "full")
_CHUNK = 1 << 20


class DamagedSnapshot(BadRequest):
    """The archive is truncated, altered, or not a Flotilla snapshot."""


@dataclass
class ArchivedCollection:
    name: str
    config: dict
    payload_indexes: dict
    # shard id -> [(relative path in the shard, file object positioned at start, size)]
    shards: dict[int, list[tuple[str, BinaryIO | Path, int]]] = field(default_factory=dict)
    # Custom sharding: shard id -> key, for every shard of the collection (not only the
    # archived ones), so a recovery recreates every key.
    shard_keys: dict[int, str | int] = field(default_factory=dict)


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes what passes through it."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._target.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


class _HashingReader(io.RawIOBase):
    """Reads at most `size` bytes of `source`, hashing them."""

    def __init__(self, source: BinaryIO, size: int) -> None:
        self._source = source
        self._left = size
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = self._left if n < 0 else min(n, self._left)
        data = self._source.read(n)
        self._left -= len(data)
        self.sha256.update(data)
        return data


def write_archive(out: BinaryIO, kind: str, collections: Iterable[ArchivedCollection],
                  extra: dict | None = None) -> str:
    """Write the archive to `out`; returns the sha256 (hex) of the whole archive."""
    writer = _HashingWriter(out)
    files: dict[str, dict] = {}
    collection_names: list[str] = []
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for n, collection in enumerate(collections):
            base = f"collections/{n}"
            collection_names.append(collection.name)
            meta = json.dumps({"name": collection.name, "config": collection.config,
                               "payload_indexes": collection.payload_indexes,
                               "shards": sorted(collection.shards),
                               "shard_keys": sorted(collection.shard_keys.items())}).encode()
            files[f"{base}/collection.json"] = _add_bytes(tar, f"{base}/collection.json", meta)
            for shard_id, shard_files in sorted(collection.shards.items()):
                for relative, source, size in shard_files:
                    name = f"{base}/shards/{shard_id}/{relative}"
                    files[name] = _add_file(tar, name, source, size)
        manifest = {"format": FORMAT, "version": VERSION, "kind": kind,
                    "created_at": time.time(), "collections": collection_names,
                    "files": files, **(extra or {})}
        _add_bytes(tar, MANIFEST_NAME, json.dumps(manifest).encode())
    return writer.sha256.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> dict:
    info = _info(name, len(data))
    tar.addfile(info, io.BytesIO(data))
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _add_file(tar: tarfile.TarFile, name: str, source: BinaryIO | Path, size: int) -> dict:
    with open(source, "rb") if isinstance(source, Path) else _nullcontext(source) as f:
        reader = _HashingReader(f, size)
        tar.addfile(_info(name, size), reader)
    return {"size": size, "sha256": reader.sha256.hexdigest()}


class _nullcontext:
    def __init__(self, value: BinaryIO) -> None:
        self.value = value

    def __enter__(self) -> BinaryIO:
        return self.value

    def __exit__(self, *exc: object) -> None:
        return None


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o644
    return info


# ---- reading ------------------------------------------------------------------------------


@dataclass
class ExtractedCollection:
    name: str
    config: dict
    payload_indexes: dict
    shards: dict[int, Path]  # shard id -> extracted shard directory
    # [shard id, key] pairs of a custom-sharded collection, as read (checked before use)
    shard_keys: list = field(default_factory=list)


@dataclass
class ExtractedArchive:
    kind: str
    manifest: dict
    collections: list[ExtractedCollection]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: Path, into: Path) -> ExtractedArchive:
    """Extract `archive` into the empty directory `into`, checking every member against the
    manifest. Raises DamagedSnapshot (a 400) on anything amiss; `into` is then left for the
    caller to remove."""
    hashes: dict[str, tuple[int, str]] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(archive, mode="r|") as tar:
            for member in tar:
                if manifest_bytes is not None:
                    raise DamagedSnapshot("the snapshot has members after its manifest")
                name = _checked_name(member)
                source = tar.extractfile(member)
                assert source is not None  # a regular file, checked above
                if name == MANIFEST_NAME:
                    manifest_bytes = source.read(member.size)
                    continue
                if name in hashes:
                    raise DamagedSnapshot(f"the snapshot holds {name} twice")
                hashes[name] = (member.size, _extract_one(source, member.size, into / name))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DamagedSnapshot(f"the snapshot is not a readable archive "
                              f"(truncated or damaged): {exc}") from None
    if manifest_bytes is None:
        raise DamagedSnapshot("the snapshot has no Flotilla manifest (truncated, or not a "
                              "Flotilla snapshot)")
    manifest = _parse_manifest(manifest_bytes)
    listed = manifest["files"]
    if set(listed) != set(hashes):
        missing = sorted(set(listed) - set(hashes))[:3]
        extra = sorted(set(hashes) - set(listed))[:3]
        raise DamagedSnapshot(f"the snapshot's members do not match its manifest "
                              f"(missing {missing}, unlisted {extra})")
    for name, (size, digest) in hashes.items():
        want = listed[name]
        if not isinstance(want, dict) or want.get("size") != size or want.get("sha256") != digest:
            raise DamagedSnapshot(f"checksum mismatch for {name}: the snapshot is damaged")
    return ExtractedArchive(manifest["kind"], manifest, _collections(manifest, into))


def _checked_name(member: tarfile.TarInfo) -> str:
    if not member.isreg():
        raise DamagedSnapshot(f"the snapshot member {member.name!r} is not a regular file")
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in member.name:
        raise DamagedSnapshot(f"the snapshot member {member.name!r} points outside the archive")
    return path.as_posix()


def _extract_one(source: BinaryIO, size: int, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    with open(target, "wb") as out:
        while written < size:
            chunk = source.read(min(_CHUNK, size - written))
            if not chunk:
                raise DamagedSnapshot(f"the snapshot ends inside {target.name} (truncated)")
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _parse_manifest(raw: bytes) -> dict:
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise DamagedSnapshot("the snapshot's manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DamagedSnapshot("not a Flotilla snapshot (foreign archive)")
    if manifest.get("version") != VERSION:
        raise DamagedSnapshot(f"snapshot format version {manifest.get('version')!r} is not "
                              f"supported (this node reads version {VERSION})")
    if manifest.get("kind") not in KINDS or not isinstance(manifest.get("files"), dict):
        raise DamagedSnapshot("the snapshot's manifest is malformed")
    return manifest


def _collections(manifest: dict, into: Path) -> list[ExtractedCollection]:
    out = []
    names = manifest.get("collections")
    if not isinstance(names, list):
        raise DamagedSnapshot("the snapshot's manifest is malformed")
    for n in range(len(names)):
        base = into / "collections" / str(n)
        try:
            meta = json.loads((base / "collection.json").read_bytes())
            shards = {int(s): base / "shards" / str(int(s)) for s in meta["shards"]}
            name, config = meta["name"], meta["config"]
            indexes = meta.get("payload_indexes") or {}
            shard_keys = meta.get("shard_keys") or []
        except (OSError, ValueError, KeyError, TypeError):
            raise DamagedSnapshot(f"collection {n} of the snapshot is malformed") from None
        if not isinstance(name, str) or not isinstance(config, dict) or \
                not isinstance(shard_keys, list):
            raise DamagedSnapshot(f"collection {n} of the snapshot is malformed")
        out.append(ExtractedCollection(name, config, indexes, shards, shard_keys))
    return out
