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
    assert (out / "report.md").read_text().startswith("# Flotilla benchmark")
    assert {t["target"] for t in rep["targets"]}


@pytest.mark.timeout(120)
def test_snapshot_bench_smoke(tmp_path: Path) -> None:
    from bench.snapshots import main

    assert main(["--size", "500", "--dim", "8", "--rounds", "1", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "snapshots.json").read_text())
    assert rep["runs"][0]["archive_mb"] > 0
    assert (tmp_path / "snapshots.md").read_text().startswith("# Snapshots")
