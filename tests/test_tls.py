"""TLS: https on the REST port (qdrant-client included), mutual TLS, node-to-node calls over
https with peers verified against the cluster's CA, certificates reloaded from disk, and the
settings that refuse to start a node TLS could not work for.

Every certificate is made here (tests/tls_certs.py); every node is a real process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cluster_harness import Cluster
from cryptography.hazmat.primitives import serialization
from nodeproc import REPO_ROOT, NodeProcess, connect, free_port, wait_for
from qdrant_client import models
from tls_certs import CertificateAuthority, Issued, client_tls, served_certificate

from cluster.replication.peer_client import PeerClient, PeerUnavailable
from cluster.replication.stream_frames import STREAM_PATH
from node.settings import SettingsError, load_settings
from node.tls import NodeTls

pytestmark = pytest.mark.timeout(240)

# The exceptions a refused handshake surfaces as: an alert from the server arrives as an
# SSLError, or (TLS 1.3, where the client finishes first) as a reset on the first read.
REFUSED = (requests.exceptions.SSLError, requests.exceptions.ConnectionError)


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    rogue_ca: CertificateAuthority
    node: Issued  # 127.0.0.1, server and client usage: what a node presents either way
    client: Issued  # a client certificate the CA signed
    rogue_node: Issued  # 127.0.0.1, signed by another CA
    rogue_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "flotilla")
    rogue_ca = CertificateAuthority(directory, "rogue")
    return Pki(ca, rogue_ca, ca.issue("node"), ca.issue("client", ip=None, server=False),
               rogue_ca.issue("rogue-node"), rogue_ca.issue("rogue-client", ip=None,
                                                            server=False))


def tls_env(identity: Issued, ca: Path | None = None, **settings: str) -> dict[str, str]:
    """A node's TLS settings as environment variables (the way a container gets them)."""
    env = {"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": str(identity.cert),
           "FLOTILLA__TLS__KEY": str(identity.key)}
    if ca is not None:
        env["FLOTILLA__TLS__CA_CERT"] = str(ca)
    env.update({f"FLOTILLA__{key.upper()}": value for key, value in settings.items()})
    return env


@pytest.fixture(scope="module")
def https_node(tmp_path_factory: pytest.TempPathFactory, pki: Pki):
    node = NodeProcess(tmp_path_factory.mktemp("https") / "storage", name="https",
                       env=tls_env(pki.node, service__client_timeout_sec="2"),
                       tls=client_tls(pki.ca))
    try:
        yield node.start_and_wait()
    finally:
        node.stop()


# --- settings ------------------------------------------------------------------------------


def test_settings_in_qdrants_layout(tmp_path: Path, pki: Pki) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "service:\n  enable_tls: true\n  verify_https_client_certificate: true\n"
        "cluster:\n  enabled: true\n  p2p:\n    enable_tls: true\n"
        f"tls:\n  cert: {pki.node.cert}\n  key: {pki.node.key}\n  ca_cert: {pki.ca.cert}\n"
        "  cert_ttl: 60\n")
    settings = load_settings(str(config), {"QDRANT__TLS__CERT_TTL": "5"}, {})
    assert settings.service.enable_tls and settings.service.verify_https_client_certificate
    assert settings.cluster.p2p.enable_tls
    assert (settings.tls.cert, settings.tls.key, settings.tls.ca_cert) == (
        str(pki.node.cert), str(pki.node.key), str(pki.ca.cert))
    assert settings.tls.cert_ttl == 5  # the environment beats the file
    assert load_settings(None, {}, {}).tls.cert_ttl == 3600  # Qdrant's default
    never = load_settings(str(config), {"FLOTILLA__TLS__CERT_TTL": ""}, {})
    assert never.tls.cert_ttl is None


@pytest.mark.parametrize(("env", "message"), [
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true"}, "tls.cert: a PEM file is required"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{cert}"},
     "tls.key: a PEM file is required"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{missing}",
      "FLOTILLA__TLS__KEY": "{key}"}, "tls.cert: cannot read"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{cert}",
      "FLOTILLA__TLS__KEY": "{directory}"}, "tls.key: cannot read"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{cert}",
      "FLOTILLA__TLS__KEY": "{key}", "FLOTILLA__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE": "1"},
     "tls.ca_cert: a PEM file is required when service.verify_https_client_certificate"),
    ({"FLOTILLA__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE": "true"},
     "needs service.enable_tls"),
    ({"FLOTILLA__CLUSTER__P2P__ENABLE_TLS": "true"}, "needs service.enable_tls"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{cert}",
      "FLOTILLA__TLS__KEY": "{key}", "FLOTILLA__CLUSTER__P2P__ENABLE_TLS": "true"},
     "tls.ca_cert: a PEM file is required when cluster.p2p.enable_tls"),
    ({"FLOTILLA__SERVICE__ENABLE_TLS": "true", "FLOTILLA__TLS__CERT": "{cert}",
      "FLOTILLA__TLS__KEY": "{key}", "FLOTILLA__CLUSTER__ENABLED": "true"},
     "service.enable_tls in a cluster needs cluster.p2p.enable_tls"),
    ({"FLOTILLA__TLS__CERT_TTL": "0"}, "tls.cert_ttl: must be a positive"),
])
def test_settings_that_cannot_work_are_refused(env: dict[str, str], message: str,
                                                pki: Pki, tmp_path: Path) -> None:
    paths = {"cert": pki.node.cert, "key": pki.node.key, "missing": tmp_path / "nothing.pem",
             "directory": tmp_path}
    env = {name: value.format(**paths) for name, value in env.items()}
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(None, env, {})


@pytest.mark.parametrize(("problem", "message"), [
    ("another certificate's key", "matching key"),
    ("an encrypted key", "tls.key is encrypted"),
])
def test_node_with_a_key_it_cannot_use_refuses_to_start(problem: str, message: str,
                                                         tmp_path: Path, pki: Pki) -> None:
    """Files that exist but do not load stop the node with a clear message, exit code 2
    (and an encrypted key never makes it wait for a passphrase)."""
    key = pki.client.key
    if problem == "an encrypted key":
        key = tmp_path / "encrypted-key.pem"
        plain = serialization.load_pem_private_key(pki.node.key.read_bytes(), None)
        key.write_bytes(plain.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase")))
    env = tls_env(Issued(pki.node.cert, key, 0))
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "serve", "--http-port", str(free_port()),
         "--grpc-port", "off",
         "--p2p-port", str(free_port()), "--storage-path", str(tmp_path / "storage")],
        cwd=REPO_ROOT, env={**_base_env(), **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "invalid configuration: tls.cert / tls.key / tls.ca_cert" in result.stderr
    assert message in result.stderr


def _base_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not name.startswith(("FLOTILLA__", "QDRANT__"))}


# --- the REST port ---------------------------------------------------------------------------


def test_qdrant_client_over_https(https_node: NodeProcess) -> None:
    assert https_node.url.startswith("https://")
    client = connect(https_node)  # verify= an SSLContext trusting the test CA
    try:
        client.create_collection("tls", vectors_config=models.VectorParams(
            size=3, distance=models.Distance.DOT))
        client.upsert("tls", points=[models.PointStruct(id=i, vector=[i, 1.0, 0.0])
                                     for i in range(1, 6)], wait=True)
        hits = client.query_points("tls", query=[1.0, 0.0, 0.0], limit=2).points
        assert [hit.id for hit in hits] == [5, 4]
    finally:
        client.close()


def test_grpc_port_serves_tls_with_the_same_certificate(https_node: NodeProcess,
                                                        pki: Pki) -> None:
    """The gRPC port takes the REST port's certificate; a plaintext channel gets nothing."""
    import grpc
    from qdrant_client import grpc as pb

    target = f"{https_node.host}:{https_node.grpc_port}"
    trusted = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert.read_bytes())
    with grpc.secure_channel(target, trusted) as channel:
        reply = pb.QdrantStub(channel).HealthCheck(pb.HealthCheckRequest(), timeout=10)
        assert reply.version
        names = pb.CollectionsStub(channel).List(pb.ListCollectionsRequest(), timeout=10)
        assert names is not None
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as refused:
        pb.QdrantStub(channel).HealthCheck(pb.HealthCheckRequest(), timeout=3)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


def test_plain_http_to_the_tls_port_fails(https_node: NodeProcess) -> None:
    plain = f"http://{https_node.host}:{https_node.http_port}/collections"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=5)


def test_a_stalled_handshake_is_closed_after_the_client_timeout(https_node: NodeProcess) -> None:
    """A client that connects and never starts TLS is held no longer than one that never sends
    its request (service.client_timeout_sec, 2 s here; asyncio's own default would be 60 s)."""
    with socket.create_connection((https_node.host, https_node.http_port), timeout=20) as raw:
        assert raw.recv(1) == b""  # closed by the node (a socket.timeout after 20 s if not)


def test_a_client_that_does_not_trust_the_ca_refuses_the_node(https_node: NodeProcess,
                                                             pki: Pki) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https_node.url}/collections", timeout=5)  # the system's CAs only
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https_node.url}/collections", timeout=5, verify=str(pki.rogue_ca.cert))
    trusted = requests.get(f"{https_node.url}/collections", timeout=5,
                           **client_tls(pki.ca).requests_kwargs())
    assert trusted.status_code == 200


def test_mutual_tls_needs_a_client_certificate_the_ca_signed(tmp_path: Path, pki: Pki) -> None:
    config = tmp_path / "config.yaml"  # Qdrant's layout, as an operator would write it
    config.write_text(
        "service:\n  enable_tls: true\n  verify_https_client_certificate: true\n"
        f"tls:\n  cert: {pki.node.cert}\n  key: {pki.node.key}\n  ca_cert: {pki.ca.cert}\n")
    with NodeProcess(tmp_path / "storage", name="mtls", extra_args=["--config", str(config)],
                     tls=client_tls(pki.ca, pki.client)) as node:
        node.start_and_wait()
        url = f"{node.url}/collections"
        with pytest.raises(REFUSED):
            requests.get(url, timeout=5, **client_tls(pki.ca).requests_kwargs())
        with pytest.raises(REFUSED):
            requests.get(url, timeout=5, **client_tls(pki.ca, pki.rogue_client).requests_kwargs())
        answer = requests.get(url, timeout=5, **client_tls(pki.ca, pki.client).requests_kwargs())
        assert answer.status_code == 200
        client = connect(node)
        try:
            assert client.get_collections().collections == []
        finally:
            client.close()


def test_certificate_swapped_on_disk_is_served_after_the_reload_period(
        tmp_path: Path, pki: Pki) -> None:
    files = (tmp_path / "cert.pem", tmp_path / "key.pem")
    first = pki.ca.issue("first", into=files)
    tls = client_tls(pki.ca)
    with NodeProcess(tmp_path / "storage", name="reload", tls=tls,
                     env=tls_env(first, tls__cert_ttl="1")) as node:
        node.start_and_wait()
        assert served_certificate(node.http_port, tls).serial_number == first.serial
        # A file that does not load (half written, garbage) leaves the old certificate served.
        files[0].write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        wait_for(lambda: "do not load" in node.log_text(), 15, "the node to skip the bad file")
        assert served_certificate(node.http_port, tls).serial_number == first.serial
        second = pki.ca.issue("second", into=files)
        assert second.serial != first.serial
        wait_for(lambda: served_certificate(node.http_port, tls).serial_number == second.serial,
                 15, "the new certificate to be served")
        client = connect(node)
        try:
            assert client.get_collections().collections == []
        finally:
            client.close()


# --- node to node ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, pki: Pki):
    identities = [pki.ca.issue(f"node{i}") for i in range(3)]
    cluster = Cluster(
        tmp_path_factory.mktemp("tls-cluster"), size=3, tls=client_tls(pki.ca),
        env=lambda i: tls_env(identities[i], pki.ca.cert, cluster__p2p__enable_tls="true"))
    try:
        yield cluster.start()
    finally:  # also when it never formed: its nodes run in sessions of their own
        cluster.stop()


def test_cluster_over_tls_forms_and_replicates_writes(tls_cluster: Cluster) -> None:
    first, second, third = tls_cluster.nodes
    peers = tls_cluster.cluster(first)["peers"]
    assert len(peers) == 3 and all(p["api"].startswith("https://") for p in peers.values())
    with tls_cluster.client(first) as client:
        client.create_collection("replicated", vectors_config=models.VectorParams(
            size=2, distance=models.Distance.DOT), shard_number=3, replication_factor=3)
    tls_cluster.wait_all_active("replicated")
    with tls_cluster.client(second) as client:
        client.upsert("replicated", points=[models.PointStruct(id=i, vector=[i, 1.0])
                                            for i in range(1, 101)], wait=True)
    # Every node holds a replica of every shard: each counts its own copies.
    for node in tls_cluster.nodes:
        response = tls_cluster.http(node).post("/collections/replicated/points/count",
                                               params={"consistency": "all"},
                                               json={"exact": True})
        assert response.status_code == 200, response.text
        assert response.json()["result"]["count"] == 100
    # Once the streams to the peers are open (in the background), reads no longer reach
    # their HTTP shard route: the internal stream works over TLS too.
    shard_route = 'endpoint="/internal/v1/shards/{collection_uuid}/{shard_id}/{method}"'

    def streamed() -> bool:
        def calls() -> list[float]:
            return [_counter(tls_cluster.http(n).get("/metrics").text, shard_route)
                    for n in (second, third)]
        before = calls()
        tls_cluster.http(first).post("/collections/replicated/points/count",
                                     params={"consistency": "all"},
                                     json={"exact": True}).raise_for_status()
        return calls() == before

    wait_for(streamed, 10, "reads over the internal stream")
    # The writes reached the other replicas through the peer client, over https.
    metrics = tls_cluster.http(second).get("/metrics").text
    assert _counter(metrics, 'flotilla_peer_requests_total{operation="upsert",outcome="ok"}') > 0
    assert _counter(metrics, 'outcome="unavailable"') == 0
    with tls_cluster.client(third) as client:
        assert client.retrieve("replicated", ids=[42], with_vectors=True)[0].vector == [42, 1]


def _counter(metrics: str, selector: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if not line.startswith("#") and selector in line)


def _peer_tls(cert: Issued, ca: CertificateAuthority) -> NodeTls:
    """The TLS of a node configured with `cert` that trusts `ca`, built from its settings."""
    settings = load_settings(None, tls_env(cert, ca.cert, cluster__p2p__enable_tls="true",
                                           cluster__enabled="true"), {})
    tls = NodeTls.from_settings(settings)
    assert tls is not None
    return tls


async def _ask_version(tls: NodeTls, api: str) -> object:
    async with PeerClient(ssl_context=tls.client_context) as peer:
        return await peer.get_json(api, "/internal/v1/metadata/version?at_least=0")


async def test_peers_with_a_certificate_from_another_ca_are_refused(
        tls_cluster: Cluster, pki: Pki, tmp_path: Path) -> None:
    node = tls_cluster.nodes[0]
    api = node.url
    # A peer whose certificate the cluster's CA signed gets its answer.
    assert "version" in await _ask_version(_peer_tls(pki.node, pki.ca), api)
    # One with a certificate from another CA is refused during the handshake.
    with pytest.raises(PeerUnavailable):
        await _ask_version(_peer_tls(pki.rogue_node, pki.ca), api)
    # One with no certificate reaches the port (clients need none) but not the internal API.
    internal = f"{api}/internal/v1/metadata/version"
    for path in (internal, f"{api}{STREAM_PATH}"):  # the internal stream's upgrade too
        anonymous = requests.get(path, timeout=5, **client_tls(pki.ca).requests_kwargs())
        assert anonymous.status_code == 403
        assert "tls.ca_cert" in anonymous.json()["status"]["error"]
    with pytest.raises(REFUSED):
        requests.get(internal, timeout=5,
                     **client_tls(pki.ca, pki.rogue_client).requests_kwargs())
    public = requests.get(f"{api}/collections", timeout=5, **client_tls(pki.ca).requests_kwargs())
    assert public.status_code == 200
    # And a peer refuses a node that serves a certificate from another CA.
    with NodeProcess(tmp_path / "storage", name="rogue", env=tls_env(pki.rogue_node),
                     tls=client_tls(pki.rogue_ca)) as rogue:
        rogue.start_and_wait()
        with pytest.raises(PeerUnavailable, match="certificate verify failed"):
            await _ask_version(_peer_tls(pki.node, pki.ca), rogue.url)
    # Nor does it call a peer that advertises plain http, which would carry the secret bare.
    with pytest.raises(PeerUnavailable, match="does not serve https"):
        await _ask_version(_peer_tls(pki.node, pki.ca), f"http://127.0.0.1:{node.http_port}")
