"""deploy/grafana/flotilla.json and deploy/prometheus/alerts.yml against a real Prometheus
scraping a real 3-node cluster: every panel query and every alert expression evaluates without
error, every panel shows data, and the alerts a killed node should raise do.

With FLOTILLA_DASHBOARD_PNG set to a path, the panels are also drawn there from the same data
(`make deploy-check` writes docs/dashboard.png this way)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from cluster_harness import Cluster
from nodeproc import LOOPBACK, REPO_ROOT, free_port, wait_for
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

pytestmark = pytest.mark.timeout(180)

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "flotilla.json"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
JOB = "flotilla"
RATE_WINDOW = "15s"
# What killing one node of three while writing with write_consistency_factor 2 must raise.
EXPECTED_ALERTS = {"FlotillaNodeDown", "FlotillaWriteQuorumFailures", "FlotillaReplicasDead",
                   "FlotillaHighErrorRate"}


def panel_queries(dashboard: dict) -> list[tuple[str, list[str]]]:
    """(panel title, its PromQL expressions) with the dashboard's variables filled in."""
    out = []
    for panel in dashboard["panels"]:
        exprs = [target["expr"].replace("$job", JOB).replace("$__rate_interval", RATE_WINDOW)
                 for target in panel["targets"]]
        out.append((panel["title"], exprs))
    return out


def alert_rules() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


class Prometheus:
    """A real Prometheus server scraping the given targets every second."""

    def __init__(self, base: Path, targets: list[str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("the prometheus server is missing: `make test` installs it")
        base.mkdir(parents=True, exist_ok=True)
        shutil.copy(ALERTS, base / "alerts.yml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        (base / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._log = open(base / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self._proc = subprocess.Popen(
            [binary, f"--config.file={base / 'prometheus.yml'}",
             f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address={LOOPBACK}:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 30, "Prometheus to be ready")

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def query(self, expr: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def query_range(self, expr: str, start: float, end: float) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query_range", timeout=10, params={
            "query": expr, "start": start, "end": end, "step": "1s"})
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=20)
        self._log.close()


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Prometheus]]:
    base = tmp_path_factory.mktemp("dashboard")
    cluster = Cluster(base / "cluster").start()
    prometheus = Prometheus(base / "prometheus",
                            [f"{LOOPBACK}:{node.http_port}" for node in cluster.nodes])
    try:
        yield cluster, prometheus
    finally:
        prometheus.stop()
        cluster.stop()


def _drive_traffic(cluster: Cluster) -> None:
    """Writes, queries, misses, an index build, then one node killed under writes."""
    with cluster.client(cluster.nodes[0]) as client:
        client.create_collection(
            "dash", vectors_config=models.VectorParams(size=16, distance="Cosine"),
            shard_number=2, replication_factor=2, write_consistency_factor=2,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10))
        for batch in range(10):
            ids = range(batch * 100, batch * 100 + 100)
            client.upsert("dash", [
                models.PointStruct(id=i, vector=[(i * 7 + j) % 13 / 13 for j in range(16)])
                for i in ids], wait=True)
        for i in range(50):
            client.query_points("dash", query=[(i + j) % 5 / 5 for j in range(16)], limit=5)
        for _ in range(5):
            with pytest.raises(UnexpectedResponse):
                client.get_collection("nope")
    victim = cluster.nodes[2]
    victim.kill()
    with cluster.client(cluster.nodes[0]) as client:
        for i in range(40):
            # Refused for want of two replicas, spread over several scrapes so that rates
            # see them: what the alerts should catch.
            with contextlib.suppress(UnexpectedResponse, ResponseHandlingException):
                client.upsert("dash", [models.PointStruct(id=5000 + i, vector=[1.0] * 16)],
                              wait=True)
            time.sleep(0.15)


def test_every_panel_and_alert_against_a_real_prometheus(scraped) -> None:
    cluster, prometheus = scraped
    wait_for(lambda: len(prometheus.query(f'up{{job="{JOB}"}} == 1')) == 3, 30,
             "Prometheus to scrape the three nodes")
    started = time.time()
    _drive_traffic(cluster)
    time.sleep(6)  # a few scrapes after the kill, for rates and `up == 0`

    dashboard = json.loads(DASHBOARD.read_text())
    empty_panels = []
    for title, exprs in panel_queries(dashboard):
        results = [prometheus.query(expr) for expr in exprs]  # asserts: none errors
        if not any(results):
            empty_panels.append(title)
    assert not empty_panels, f"panels with no data: {empty_panels}"

    caught = {}
    for name, expr in alert_rules():
        caught[name] = prometheus.query(expr)  # asserts: none errors
    fired = {name for name, result in caught.items() if result}
    print("alerts whose condition held:", {n: len(caught[n]) for n in sorted(fired)})
    assert fired >= EXPECTED_ALERTS, f"expected {EXPECTED_ALERTS}, held: {fired}"
    assert "FlotillaNoRaftLeader" not in fired  # two of three nodes still elect a leader

    if png := os.environ.get("FLOTILLA_DASHBOARD_PNG"):
        from dashboard_render import render

        render(dashboard, panel_queries(dashboard), prometheus.query_range, started, time.time(),
               Path(png))
