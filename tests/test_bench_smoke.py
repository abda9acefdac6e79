"""A tiny run of the benchmark code so it does not rot; its figures are not checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the bench extra is not installed")
pytest.importorskip("tqdm", reason="the bench extra is not installed")


@pytest.mark.timeout(120)
def test_bench_smoke(tmp_path: Path) -> None:
    from bench.run import main

    out = tmp_path / "results"
    assert main(["--mode", "smoke", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--no-quantized"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["node"]["ingest"]["points"] == 1000
    assert rep["node"]["ef_sweep"] and rep["cluster"]["search"]
    assert rep["node"]["grpc"]["search"]["requests"] and rep["node"]["grpc"]["ingest"]["pps"]
    assert (out / "report.md").read_text().startswith("# Flotilla benchmark")
    assert {t["target"] for t in rep["targets"]}


@pytest.mark.timeout(120)
def test_snapshot_bench_smoke(tmp_path: Path) -> None:
    from bench.snapshots import main

    assert main(["--size", "500", "--dim", "8", "--rounds", "1", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "snapshots.json").read_text())
    assert rep["runs"][0]["archive_mb"] > 0
    assert (tmp_path / "snapshots.md").read_text().startswith("# Snapshots")


@pytest.mark.timeout(180)
def test_scale_bench_smoke(tmp_path: Path) -> None:
    from bench.scale import main

    assert main(["--sizes", "500,1000", "--dim", "8", "--queries", "20", "--duration", "0.2",
                 "--efs", "16", "--grpc", "--cluster", "--out", str(tmp_path),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    rep = json.loads((tmp_path / "scale.json").read_text())
    small, large = rep["sizes"]["500"], rep["sizes"]["1000"]
    assert large["node"]["ingest"]["points"] == 1000 and small["node"]["search"]
    assert large["node"]["grpc_ingest"]["pps"] and large["cluster"]["ingest"]["pps"]
    assert large["edge"]["upsert_pps"] and large["node"]["memory"]["floor"] > 0
    table = (tmp_path / "scale.md").read_text()
    assert "| RSS / floor |" in table and "points grow 2x" in table
