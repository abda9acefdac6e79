"""The quota this node enforces: its config, the readings, and the verdict with hysteresis.

A resource trips once its reading reaches the limit and stays tripped until the reading falls
`release_margin_percent` points below it, so a node resting on its limit does not flip in and
out of service on the noise between two readings. A config change clears what tripped: new
limits apply at once instead of waiting out the margin of one that no longer exists.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.errors import QuotaExceeded
from node.quota import usage
from node.quota.config import QuotaConfig, parse_config
from node.settings import Settings


@dataclass(frozen=True)
class _Resource:
    key: str  # in QuotaExceeded and the usage readings
    parameter: str  # its limit in the config
    described: str
    total: str
    remedy: str
    read: Callable[[Path], int | None]


MEMORY = _Resource(
    "resident_memory", "max_resident_memory_percent", "Resident memory usage", "total memory",
    "Reduce memory usage (e.g. delete points or drop collections)",
    lambda _storage: usage.resident_memory_percent())
DISK = _Resource(
    "disk_usage", "max_disk_usage_percent", "Disk usage", "total capacity",
    "Reduce disk usage (e.g. delete points or drop collections)", usage.disk_usage_percent)
RESOURCES = (MEMORY, DISK)


class QuotaGuard:
    """`config()` is the cluster's quota once set through the API (`applied()` returns the
    dict the metadata holds), until then the one from this node's settings."""

    def __init__(self, storage: Path, from_settings: QuotaConfig,
                 applied: Callable[[], dict | None]) -> None:
        self._storage = storage
        self._from_settings = from_settings
        self._applied = applied
        self._parsed: tuple[dict | None, QuotaConfig] = (None, from_settings)
        self._lock = threading.Lock()
        self._tripped: set[str] = set()
        self._tripped_under: QuotaConfig | None = None

    def config(self) -> QuotaConfig:
        applied = self._applied()
        if applied is None:
            return self._from_settings
        seen, parsed = self._parsed
        if seen is not applied:  # parsed once per change of the metadata
            parsed = parse_config(applied)
            self._parsed = (applied, parsed)
        return parsed

    def usage(self) -> dict:
        """This node's readings (QuotaUsage); None where the platform gives none."""
        return {f"{r.key}_percent": r.read(self._storage) for r in RESOURCES}

    def exceeded(self) -> dict:
        """Per resource: whether writes are refused over it, None when it is not enforced
        (quota disabled, no limit set, or no reading here)."""
        return {r.key: self._verdict(r)[0] for r in RESOURCES}

    def has_room(self) -> bool:
        """Whether this node may take on data that is not an update: a shard recovery into
        it (a full node's Dead replicas wait for room before they pull their data again)."""
        return not any(self.exceeded().values())

    def check_update(self) -> None:
        """Refuse (507) a write that would store more while a resource is over its limit."""
        for resource in RESOURCES:
            over, reading, limit, threshold = self._verdict(resource)
            if over:
                raise QuotaExceeded(_rejection(resource, reading, limit, threshold))

    def admit_write(self, kind: str) -> None:
        """Deleting points frees space, so it is always let through; every other point write
        (payload and vector deletes too: they rewrite the point first) is checked."""
        if kind != "delete":
            self.check_update()

    def _verdict(self, resource: _Resource) -> tuple[bool | None, int, int, int]:
        """(over, reading, limit, threshold the reading was held to)."""
        config = self.config()
        limit = getattr(config, resource.parameter)
        if not config.enabled or limit is None:
            return None, 0, 0, 0
        reading = resource.read(self._storage)
        if reading is None:
            return None, 0, limit, limit
        with self._lock:
            if self._tripped_under != config:
                self._tripped, self._tripped_under = set(), config
            threshold = limit
            if resource.key in self._tripped:
                threshold = max(limit - config.release_margin, 0)
            over = reading >= threshold
            if over:
                self._tripped.add(resource.key)
            else:
                self._tripped.discard(resource.key)
        return over, reading, limit, threshold


def settings_quota(settings: Settings) -> QuotaConfig:
    """The quota `storage.quotas` sets; a 422 (the node does not start) for a bad range."""
    return parse_config(dataclasses.asdict(settings.storage.quotas))


def _rejection(resource: _Resource, reading: int, limit: int, threshold: int) -> str:
    # Qdrant's words: clients and alerts match on them.
    if reading >= limit:
        condition = (f"{resource.described} is at {reading}% of {resource.total}, exceeding "
                     f"the configured limit of {limit}%")
    else:
        condition = (f"{resource.described} is at {reading}% of {resource.total}. It reached "
                     f"the configured limit of {limit}% and has to fall below {threshold}% "
                     "before this node takes writes again")
    return (f"{condition}. Help: {resource.remedy}, or raise `{resource.parameter}` in the "
            "global quota config.")
