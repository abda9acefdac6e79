"""The process-model prototype (bench/procmodel.py): real serving processes on one port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the bench extra is not installed")
pytest.importorskip("tqdm", reason="the bench extra is not installed")


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.timeout(120)
def test_two_processes_on_one_port_answer_searches_and_refuse_bad_input(tmp_path: Path) -> None:
    from bench import dataset, procmodel

    ds = dataset.load(300, 8, "Cosine", 10, cache_dir=tmp_path / "cache")
    seg = tmp_path / "segment"
    seg.mkdir()
    procmodel.write_segment(ds, seg, 16, 100)
    servers = procmodel.start_set(seg, 2, "load")
    try:
        assert len(servers.servers) == 2
        url = servers.url + procmodel.PATH
        for i in (0, 17, 299):  # a stored vector finds itself first, whichever process answers
            status, body = _post(url, json.dumps({"query": ds.vectors[i].tolist(), "limit": 3,
                                                  "params": {"hnsw_ef": 64}}).encode())
            assert status == 200 and body["result"]["points"][0]["id"] == i
            assert len(body["result"]["points"]) == 3
        for bad in (b"{not json", b'{"query": [1, 2]}', b'{"query": "x"}',
                    json.dumps({"query": [0.1] * 8, "limit": 0}).encode()):
            status, body = _post(url, bad)
            assert status == 400 and body["status"]["error"], bad
        status, body = _post(servers.url + "/collections/other/points/query",
                             json.dumps({"query": [0.1] * 8}).encode())
        assert status == 404 and "other" in body["status"]["error"]
    finally:
        servers.stop()
    assert servers.proc.returncode == 0


@pytest.mark.timeout(180)
def test_procmodel_bench_smoke(tmp_path: Path) -> None:
    from bench.procmodel import main

    out = tmp_path / "results"
    assert main(["--size", "500", "--dim", "8", "--queries", "20", "--rounds", "1",
                 "--duration", "0.3", "--sets", "1:load,2:fork", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    rep = json.loads((out / "procmodel.json").read_text())
    assert set(rep["sets"]) == {"1 proc (load)", "2 proc (fork)"}
    for name, s in rep["sets"].items():
        assert s["median"]["qps"] > 0 and s["median"]["recall"] > 0.9, name
    assert [len(s["memory"]) for s in rep["sets"].values()] == [2, 3]
    assert [len(s["open_s"]) for s in rep["sets"].values()] == [1, 2]
    assert (out / "procmodel.md").read_text().startswith("# Process model prototype")
