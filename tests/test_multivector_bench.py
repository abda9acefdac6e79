"""A tiny run of the multivector recall benchmark so it does not rot; figures not checked."""

from __future__ import annotations

from bench.multivector_recall import run


def test_multivector_recall_bench_runs():
    results = run(docs=150, dim=8, queries=5, efs=[20])
    assert [r["ef"] for r in results] == ["exact", 20]
    assert 0.0 <= results[1]["recall"] <= 1.0 and results[0]["rows"] > 0
