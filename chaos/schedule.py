"""The fault schedule: drawn from the seed before the run starts, so the same seed gives the
same faults at the same times (relative to the start of the workload)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Planned:
    at: float  # seconds after the workload started
    length: float  # how long the fault lasts before it heals
    nemesis: int  # index into the scenario's nemeses


def plan(rng: random.Random, nemeses: int, duration: float, warmup: float, length: float,
         gap: float) -> list[Planned]:
    """Faults one after another from `warmup` on, each `length` (+-25%) long with `gap` (+-25%)
    of calm after it, the last one healed at least a gap before the workload ends."""
    if nemeses == 0:
        return []
    schedule, at = [], warmup
    while True:
        this_length = round(length * rng.uniform(0.75, 1.25), 2)
        if at + this_length + gap > duration:
            return schedule
        schedule.append(Planned(round(at, 2), this_length, rng.randrange(nemeses)))
        at += this_length + round(gap * rng.uniform(0.75, 1.25), 2)
