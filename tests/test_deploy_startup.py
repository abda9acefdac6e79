"""The proof that deploy/ works, not only parses: the StatefulSet's pods and the compose file's
services, started all at once from their own command and environment (tests/manifest_pods.py),
form one cluster, serve qdrant-client, survive a pod killed and restarted on its storage with
no acknowledged write lost, and the StatefulSet grows from 3 to 5 pods.

`FLOTILLA_FORMATION_RUNS` (default 1) repeats the all-at-once formation of the StatefulSet that
many times and prints how long each took (`make deploy-check` asks for 10)."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import pytest
from manifest_pods import Pod, PodNetwork, compose_pods, render_kustomization, statefulset_pods
from nodeproc import wait_for
from qdrant_client import QdrantClient, models

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                       reason="pods run in network namespaces: root and iproute2 needed"),
]

FORM_TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def _key_headers(pod: Pod) -> dict[str, str]:
    key = pod.spec.env.get("QDRANT__SERVICE__API_KEY")
    return {"api-key": key} if key else {}


def _one_cluster(pods: list[Pod]) -> bool:
    """Every pod ready, listing all pods as peers, and agreeing on one leader."""
    leaders = set()
    for pod in pods:
        status = pod.get("/cluster", _key_headers(pod))
        if status is None or len(status["peers"]) != len(pods) \
                or status["raft_info"]["leader"] is None:
            return False
        leaders.add(status["raft_info"]["leader"])
    return len(leaders) == 1


def _all_replicas_active(pods: list[Pod]) -> bool:
    for pod in pods:
        info = pod.get("/collections/deploy/cluster", _key_headers(pod))
        if info is None or any(r["state"] != "Active"
                               for r in info["local_shards"] + info["remote_shards"]):
            return False
    return True


def _wait_one_cluster(pods: list[Pod], timeout: float, interval: float = 0.1) -> None:
    """Wait for one cluster of `pods`; a failure shows what every pod logged."""
    try:
        wait_for(lambda: _one_cluster(pods), timeout, "one cluster", interval)
    except AssertionError as failed:
        logs = "\n".join(f"--- {p.spec.name}\n{p.log_tail()}" for p in pods)
        raise AssertionError(f"{failed}:\n{logs}") from None


def _form(network: PodNetwork, pods: list[Pod]) -> float:
    started = time.monotonic()
    network.start_all(pods)
    _wait_one_cluster(pods, FORM_TIMEOUT, interval=0.05)
    return time.monotonic() - started


def _client(pod: Pod) -> QdrantClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an API key over plain http
        return QdrantClient(url=pod.url, api_key=pod.spec.env.get("QDRANT__SERVICE__API_KEY"),
                            timeout=15)


def _write(client: QdrantClient, ids: range) -> None:
    client.upsert("deploy", [models.PointStruct(id=i, vector=[float(i % 7), 1.0, 0.5, 0.25],
                                                payload={"i": i}) for i in ids], wait=True)


def _survive_a_restart_and_grow(network: PodNetwork, pods: list[Pod]) -> None:
    client = _client(pods[0])
    client.create_collection("deploy", vectors_config=models.VectorParams(
        size=4, distance="Dot"), shard_number=3, replication_factor=2)
    _write(client, range(0, 300))

    victim = pods[1]
    victim.kill()
    _write(_client(pods[2]), range(300, 400))  # acknowledged while the pod is down
    victim.start()  # the same pod identity and volume, as the StatefulSet restarts it
    _wait_one_cluster(pods, 60)
    wait_for(lambda: _all_replicas_active(pods), 60, "every replica Active again")
    for pod in pods:
        count = _client(pod).count("deploy", exact=True).count
        assert count == 400, f"{pod.spec.name} counts {count}"

    _, _, grown = statefulset_pods(render_kustomization("deploy/kubernetes/overlays/5-nodes"))
    new_pods = [network.add(spec) for spec in grown[len(pods):]]
    network.start_all(new_pods)
    everyone = pods + new_pods
    _wait_one_cluster(everyone, 60)
    assert _client(new_pods[-1]).count("deploy", exact=True).count == 400


def test_the_statefulset_forms_serves_survives_a_restart_and_grows(tmp_path: Path) -> None:
    runs = int(os.environ.get("FLOTILLA_FORMATION_RUNS", "1"))
    replicas, headless, specs = statefulset_pods(render_kustomization("deploy/kubernetes"))
    assert replicas == 3
    times = []
    for run in range(runs):
        with PodNetwork(tmp_path / f"run{run}", dns_suffix=f".{headless}") as network:
            pods = [network.add(spec) for spec in specs]
            times.append(_form(network, pods))
            if run == runs - 1:
                _survive_a_restart_and_grow(network, pods)
    print(f"StatefulSet of {replicas} pods started at once, formed in (s):",
          [round(t, 2) for t in times])


def test_the_compose_cluster_forms_and_serves(tmp_path: Path) -> None:
    specs = compose_pods(REPO_ROOT / "deploy" / "compose" / "docker-compose.yml")
    assert [s.name for s in specs] == ["flotilla-0", "flotilla-1", "flotilla-2"]
    with PodNetwork(tmp_path) as network:
        pods = [network.add(spec) for spec in specs]
        elapsed = _form(network, pods)
        client = _client(pods[2])
        client.create_collection("deploy", vectors_config=models.VectorParams(
            size=4, distance="Dot"), replication_factor=2)
        _write(client, range(100))
        assert _client(pods[0]).count("deploy", exact=True).count == 100
    print(f"compose cluster formed in {elapsed:.2f}s")
