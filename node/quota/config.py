"""The quota config: its JSON form, its checks, and the release margin when none is given."""

from __future__ import annotations

import msgspec

from node.errors import Unprocessable
from node.model import decode

# Percentage points a tripped resource must fall below its limit before writes are taken
# again, when the config leaves it unset (Qdrant's default).
DEFAULT_RELEASE_MARGIN_PERCENT = 5

# field -> (lowest, highest) value the field accepts
RANGES = {
    "max_resident_memory_percent": (1, 100),
    "max_disk_usage_percent": (1, 100),
    "release_margin_percent": (0, 100),
}


class QuotaConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    """Unset limits cap nothing; no limit is enforced while `enabled` is false."""

    enabled: bool = False
    max_resident_memory_percent: int | None = None
    max_disk_usage_percent: int | None = None
    release_margin_percent: int | None = None

    @property
    def release_margin(self) -> int:
        if self.release_margin_percent is None:
            return DEFAULT_RELEASE_MARGIN_PERCENT
        return self.release_margin_percent

    def to_json(self) -> dict:
        """Qdrant's form: unset fields are left out, `enabled` always shown."""
        out = msgspec.to_builtins(self)
        out["enabled"] = self.enabled
        return out


def parse_config(body: object) -> QuotaConfig:
    """A QuotaConfig from a request body or a stored dict: 400 for a wrong shape or type,
    422 for a percentage out of its range (nothing else is accepted, so neither a request nor
    a Raft entry can install a limit that refuses every write or caps nothing)."""
    config = decode(QuotaConfig, body)
    problems = [
        f"{name}: value {value} invalid, must be from {low} to {high}"
        for name, (low, high) in RANGES.items()
        if (value := getattr(config, name)) is not None and not low <= value <= high
    ]
    if problems:
        raise Unprocessable(f"Validation error in JSON body: [{', '.join(problems)}]")
    return config
