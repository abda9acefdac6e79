"""A tiny run of the multivector recall benchmark so it does not rot; figures not checked."""

from __future__ import annotations

from bench.multivector_recall import QUANTIZATIONS, main, run


def test_multivector_recall_bench_runs():
    results = run(docs=150, dim=8, queries=5, efs=[20], quantized_ef=20)
    assert [r.get("ef") for r in results[:2]] == ["exact", 20]
    assert 0.0 <= results[1]["recall"] <= 1.0 and results[0]["rows"] > 0
    kinds = [r for r in results if "kind" in r]
    assert [r["kind"] for r in kinds] == list(QUANTIZATIONS)
    for entry in kinds:
        assert 0.0 < entry["code_ratio"] < 1.0
        assert all(0.0 <= entry[path][0] <= 1.0 for path in
                   ("scan rescored", "scan raw", "graph rescored", "graph raw"))


def test_multivector_recall_bench_prints(capsys):
    assert main(["--docs", "100", "--dim", "8", "--queries", "3", "--ef", "20",
                 "--quantized-ef", "20"]) == 0
    assert "quantized sub-vectors" in capsys.readouterr().out
