"""Service endpoints: the root banner qdrant-client checks, health probes, Prometheus metrics."""

from __future__ import annotations

import importlib.metadata
import warnings

import pytest
from nodeproc import HttpSession, NodeProcess
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(60)


def metric_samples(http: HttpSession) -> dict[str, list[Sample]]:
    """Every sample of the /metrics page, by sample name (counters carry their _total)."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def test_root_reports_title_and_a_compatible_version(http: HttpSession) -> None:
    response = http.get("/")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["title"], str) and body["title"]
    version = body["version"]
    major, minor, *_ = (int(part) for part in version.split(".")[:2])
    client_major, client_minor = (
        int(part) for part in importlib.metadata.version("qdrant-client").split(".")[:2]
    )
    assert major == client_major
    assert abs(minor - client_minor) <= 1


def test_qdrant_client_connects_without_compatibility_warning(node: NodeProcess) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = QdrantClient(url=node.url, timeout=10)
        try:
            client.get_collections()
        finally:
            client.close()
    complaints = [str(w.message) for w in caught if "compatib" in str(w.message).lower()]
    assert not complaints, complaints


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_probes(http: HttpSession, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200, response.text


def test_metrics_is_prometheus_text(http: HttpSession) -> None:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert "flotilla_http_requests" in families
    assert "flotilla_collections" in families
    assert "# TYPE flotilla_http_requests_total counter" in response.text or (
        "# TYPE flotilla_http_requests counter" in response.text
    )


def test_qdrant_metric_names(http: HttpSession, client: QdrantClient, unique_name: str) -> None:
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    client.upsert(unique_name, [models.PointStruct(id=i, vector=[1, i]) for i in range(3)])
    assert http.get("/collections/nope_missing").status_code == 404
    samples = metric_samples(http)
    [info] = samples["app_info"]
    assert info.labels["name"] == "flotilla" and info.value == 1
    assert [s.value for s in samples["cluster_enabled"]] == [0]
    assert samples["collections_total"][0].value >= 1
    points = {s.labels["id"]: s.value for s in samples["collection_points"]}
    assert points[unique_name] == 3
    responses = {(s.labels["method"], s.labels["endpoint"], s.labels["status"]): s.value
                 for s in samples["rest_responses_total"]}
    assert responses[("PUT", "/collections/{collection_name}/points", "200")] >= 1
    failed = {(s.labels["endpoint"], s.labels["status"])
              for s in samples["rest_responses_fail_total"]}
    assert ("/collections/{collection_name}", "404") in failed
    buckets = [s for s in samples["rest_responses_duration_seconds_bucket"]
               if s.labels["endpoint"] == "/collections/{collection_name}/points"]
    assert buckets and max(s.value for s in buckets) >= 1


def test_http_requests_are_counted_by_route_template(
    http: HttpSession, client: QdrantClient, unique_name: str
) -> None:
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    for _ in range(3):
        assert http.get(f"/collections/{unique_name}").status_code == 200
    assert http.get(f"/collections/{unique_name}_missing").status_code == 404

    samples = metric_samples(http)["flotilla_http_requests_total"]
    by_labels = {
        (s.labels.get("method"), s.labels.get("endpoint"), s.labels.get("status")): s.value
        for s in samples
    }
    assert by_labels.get(("GET", "/collections/{collection_name}", "200"), 0) >= 3, by_labels
    assert by_labels.get(("GET", "/collections/{collection_name}", "404"), 0) >= 1, by_labels
    # Concrete collection names never become label values: that would explode cardinality.
    assert not any(unique_name in (s.labels.get("endpoint") or "") for s in samples)


def test_collection_gauges_follow_upserts(
    http: HttpSession, client: QdrantClient, unique_name: str
) -> None:
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    client.upsert(
        unique_name,
        [models.PointStruct(id=i, vector=[1.0, float(i)]) for i in range(17)],
        wait=True,
    )
    samples = metric_samples(http)
    (collections,) = samples["flotilla_collections"]
    assert collections.value == len(client.get_collections().collections)
    points = {s.labels["collection"]: s.value for s in samples["flotilla_points"]}
    assert points.get(unique_name) == 17

    client.upsert(unique_name, [models.PointStruct(id=100, vector=[0.0, 1.0])], wait=True)
    points = {s.labels["collection"]: s.value for s in metric_samples(http)["flotilla_points"]}
    assert points.get(unique_name) == 18

    client.delete_collection(unique_name)
    samples = metric_samples(http)
    assert unique_name not in {s.labels["collection"] for s in samples.get("flotilla_points", [])}
