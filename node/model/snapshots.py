"""Recovering a snapshot: `PUT .../snapshots/recover` takes a body, `POST .../snapshots/upload`
the same two options as query parameters; both are decoded into these types."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from node.model.decode import invalid

Priority = Literal["replica", "snapshot", "no_sync"]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-fA-F]{64}$")]


class RecoverOptions(msgspec.Struct, kw_only=True):
    priority: Priority | None = None
    checksum: Sha256 | None = None  # the archive's sha256, hex


class SnapshotRecover(RecoverOptions, kw_only=True):
    location: str  # a file:// path inside the snapshots directory, or an http(s) URL
    api_key: str | None = None  # sent to an http(s) location

    def __post_init__(self) -> None:
        parts = urlsplit(self.location)
        remote = parts.scheme in ("http", "https") and parts.netloc
        if parts.scheme != "file" and not remote:
            raise invalid("location", "expected a file:// path inside the snapshots directory "
                          "or an http(s) URL")
