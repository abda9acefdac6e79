"""A short schemathesis run (tests/fuzz) against a real node: every generated request, valid or
not, gets an answer below 500, the node stays up, and its memory comes back near where it was.
`make fuzz` is the long run of the same code."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.run import SHORT_PHASES, run_fuzz

# Under a minute with the node's start and seeding; schemathesis's own clock.
SHORT_RUN_SECONDS = 35
# A fixed seed: CI sends the same kinds of requests each time (long runs draw a new one).
SEED = 20261202
# Enough to know schemathesis really ran: a short run sends a few thousand.
MIN_REQUESTS = 500


@pytest.mark.timeout(240)
def test_short_fuzz_run(tmp_path: Path) -> None:
    report = run_fuzz(SHORT_RUN_SECONDS, tmp_path, seed_value=SEED, phases=SHORT_PHASES)
    summary = "\n".join(report.lines())
    print(summary)
    assert not report.crashed, summary
    assert report.server_errors == 0, summary
    assert not report.failures, summary
    assert report.requests >= MIN_REQUESTS, summary
    assert report.memory_came_back, summary
