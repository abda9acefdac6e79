"""Faults a test or the chaos harness can inject into a node through its environment.

`FLOTILLA_TEST_DELAY_METADATA="start_transfer=2.0,set_replica_state=0.5"`: this node applies
each metadata op of those kinds that many seconds late (pysyncobj's thread sleeps before
applying it), so its routing sees the placement change late, as on a node whose Raft lags.
Such a node never stands for election: its sleeping Raft thread would otherwise miss the
leader's heartbeats and start one. Unset (always, outside tests), nothing changes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

DELAY_METADATA_VAR = "FLOTILLA_TEST_DELAY_METADATA"
# `FLOTILLA_TEST_SLOW_READ_SECONDS=0`: every filtered read counts as slow for the
# UNINDEXED_FIELD issue, so a test sees it without building a collection slow to scan.
SLOW_READ_VAR = "FLOTILLA_TEST_SLOW_READ_SECONDS"


def slow_read_seconds(default: float, env: Mapping[str, str] = os.environ) -> float:
    """How long a filtered read takes before it counts as slow: `default` unless a test says."""
    raw = env.get(SLOW_READ_VAR)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{SLOW_READ_VAR}: expected seconds, got {raw!r}") from None


def metadata_delays(env: Mapping[str, str] = os.environ) -> dict[str, float]:
    """op kind -> seconds, from the environment; {} when unset."""
    delays: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in env.get(DELAY_METADATA_VAR, "").split(","))):
        kind, _, seconds = item.partition("=")
        try:
            delays[kind.strip()] = float(seconds)
        except ValueError:
            raise ValueError(f"{DELAY_METADATA_VAR}: expected op=seconds, got {item!r}") from None
    return delays


def delayed_apply(delays: dict[str, float]) -> Callable[[dict], None] | None:
    """The consensus `before_apply` hook that sleeps on the ops `delays` names."""
    if not delays:
        return None
    log.warning("fault injection: metadata ops applied late here: %s", delays)

    def before_apply(op: dict) -> None:
        seconds = delays.get(str(op.get("op")), 0.0)
        if seconds > 0:
            time.sleep(seconds)

    return before_apply
