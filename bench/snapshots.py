"""`python -m bench.snapshots`: snapshot create and restore throughput on one real node.

Loads a collection (default 100k x 128, Cosine, small payloads), waits for the optimizer, then
times `POST /collections/{c}/snapshots` and `PUT .../snapshots/recover` into a new collection,
sampling the node's RSS meanwhile. Writes snapshots.json and snapshots.md to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

from bench import nodes

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 1000


class PeakRss:
    """The node's highest RSS while the block runs, sampled every 10 ms."""

    def __init__(self, node: nodes.Node) -> None:
        self.node = node
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.node.rss())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.peak = self.node.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load(url: str, name: str, size: int, dim: int) -> None:
    nodes.http_json("PUT", f"{url}/collections/{name}",
                    {"vectors": {"size": dim, "distance": "Cosine"}})
    rng = np.random.default_rng(7)
    for start in range(0, size, BATCH):
        ids = range(start, min(start + BATCH, size))
        vectors = rng.random((len(ids), dim), dtype=np.float32)
        points = [{"id": i, "vector": v.tolist(), "payload": {"n": i, "g": i % 10}}
                  for i, v in zip(ids, vectors, strict=True)]
        nodes.http_json("PUT", f"{url}/collections/{name}/points?wait=true", {"points": points})
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        info = nodes.http_json("GET", f"{url}/collections/{name}")["result"]
        if info["status"] == "green" and info.get("optimizer_status") == "ok":
            return
        time.sleep(1)


def measure(size: int, dim: int, rounds: int) -> dict:
    with nodes.start(1) as dep:
        node = dep.nodes[0]
        url = node.url
        load(url, "bench", size, dim)
        runs = []
        for r in range(rounds):
            idle = node.rss()
            with PeakRss(node) as create_peak:
                t0 = time.perf_counter()
                snap = nodes.http_json("POST", f"{url}/collections/bench/snapshots")["result"]
                create_s = time.perf_counter() - t0
            location = f"file://{node.storage}/snapshots/bench/{snap['name']}"
            idle_restore = node.rss()
            with PeakRss(node) as restore_peak:
                t0 = time.perf_counter()
                nodes.http_json("PUT", f"{url}/collections/restored{r}/snapshots/recover",
                                {"location": location, "priority": "snapshot"})
                restore_s = time.perf_counter() - t0
            count = nodes.http_json("POST", f"{url}/collections/restored{r}/points/count",
                                    {"exact": True})["result"]["count"]
            assert count == size, f"restored {count} of {size} points"
            mb = snap["size"] / 1e6
            runs.append({
                "archive_mb": mb,
                "create_s": create_s, "create_mb_s": mb / create_s,
                "create_points_s": size / create_s,
                "create_peak_extra_mb": (create_peak.peak - idle) / 1e6,
                "restore_s": restore_s, "restore_mb_s": mb / restore_s,
                "restore_points_s": size / restore_s,
                "restore_peak_extra_mb": (restore_peak.peak - idle_restore) / 1e6,
            })
            nodes.http_json("DELETE", f"{url}/collections/restored{r}")
            nodes.http_json("DELETE", f"{url}/collections/bench/snapshots/{snap['name']}")
    return {"size": size, "dim": dim, "runs": runs}


def markdown(report: dict) -> str:
    lines = [f"# Snapshots: {report['size']} x {report['dim']}", "",
             "| run | archive MB | create s | create MB/s | create points/s | create peak "
             "extra MB | restore s | restore MB/s | restore points/s | restore peak extra MB |",
             "|" + "---|" * 10]
    for n, r in enumerate(report["runs"]):
        lines.append(
            f"| {n} | {r['archive_mb']:.1f} | {r['create_s']:.2f} | {r['create_mb_s']:.0f} | "
            f"{r['create_points_s']:.0f} | {r['create_peak_extra_mb']:.1f} | "
            f"{r['restore_s']:.2f} | {r['restore_mb_s']:.0f} | {r['restore_points_s']:.0f} | "
            f"{r['restore_peak_extra_mb']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshots", description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = measure(args.size, args.dim, args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "snapshots.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.out / "snapshots.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
