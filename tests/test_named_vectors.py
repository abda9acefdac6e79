"""Named vectors created on and deleted from an existing collection
(`PUT`/`DELETE /collections/{name}/vectors/{vector_name}`), on one node and across a cluster:
points stored before have no value of a new vector, new writes and searches use it at once,
a removed vector is gone from every point, its search refused, and it survives a restart."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from client_errors import API_ERRORS, message_of, status_of
from cluster_harness import Cluster
from nodeproc import HttpSession, NodeProcess
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb

pytestmark = pytest.mark.timeout(180)

DIM = 8


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def vectors(rng: np.random.Generator, n: int, dim: int = DIM) -> list[list[float]]:
    return rng.standard_normal((n, dim)).astype(np.float32).tolist()


def create(http: HttpSession, name: str, **extra) -> None:
    ok(http.put(f"/collections/{name}", json={
        "vectors": {"text": {"size": DIM, "distance": "Cosine"}},
        "optimizers_config": {"indexing_threshold": 1},  # graphs for every sealed segment
        **extra,
    }))


def upsert(http: HttpSession, name: str, points: list[dict]) -> None:
    ok(http.put(f"/collections/{name}/points?wait=true", json={"points": points}))


def test_create_use_and_delete_a_vector(http: HttpSession, unique_name: str) -> None:
    rng = np.random.default_rng(7)
    create(http, unique_name)
    upsert(http, unique_name, [{"id": i, "vector": {"text": v}}
                               for i, v in enumerate(vectors(rng, 300))])

    result = ok(http.put(f"/collections/{unique_name}/vectors/image",
                         json={"dense": {"size": 4, "distance": "Dot"}}))
    assert result["status"] == "completed"
    ok(http.put(f"/collections/{unique_name}/vectors/words",
                json={"sparse": {"modifier": "idf"}}))
    params = ok(http.get(f"/collections/{unique_name}"))["config"]["params"]
    assert params["vectors"]["image"] == {"size": 4, "distance": "Dot"}
    assert params["sparse_vectors"]["words"] == {"modifier": "idf"}

    # Points stored before have no value of it; new ones do, and are found by it.
    old = ok(http.post(f"/collections/{unique_name}/points",
                       json={"ids": [0], "with_vector": True}))[0]
    assert set(old["vector"]) == {"text"}
    ok(http.put(f"/collections/{unique_name}/points/vectors?wait=true", json={"points": [
        {"id": 0, "vector": {"image": [1, 0, 0, 0], "words": {"indices": [3], "values": [1.0]}}},
    ]}))
    upsert(http, unique_name, [{"id": 1000, "vector": {"text": vectors(rng, 1)[0],
                                                      "image": [0, 1, 0, 0]}}])
    hits = ok(http.post(f"/collections/{unique_name}/points/query",
                        json={"query": [1, 0.5, 0, 0], "using": "image", "limit": 10}))["points"]
    assert [h["id"] for h in hits] == [0, 1000]
    hits = ok(http.post(f"/collections/{unique_name}/points/query", json={
        "query": {"indices": [3], "values": [1.0]}, "using": "words", "limit": 10}))["points"]
    assert [h["id"] for h in hits] == [0]
    counted = ok(http.post(f"/collections/{unique_name}/points/count", json={
        "filter": {"must": [{"has_vector": "image"}]}, "exact": True}))
    assert counted["count"] == 2

    # Removed: gone from the config, from every point, and no longer searchable.
    ok(http.delete(f"/collections/{unique_name}/vectors/image"))
    params = ok(http.get(f"/collections/{unique_name}"))["config"]["params"]
    assert set(params["vectors"]) == {"text"}
    point = ok(http.post(f"/collections/{unique_name}/points",
                         json={"ids": [0], "with_vector": True}))[0]
    assert set(point["vector"]) == {"text", "words"}
    response = http.post(f"/collections/{unique_name}/points/query",
                         json={"query": [1, 0, 0, 0], "using": "image"})
    assert response.status_code == 400, response.text

    # The same name again, another size: no value of the old vector comes back.
    ok(http.put(f"/collections/{unique_name}/vectors/image",
                json={"dense": {"size": 2, "distance": "Euclid"}}))
    counted = ok(http.post(f"/collections/{unique_name}/points/count", json={
        "filter": {"must": [{"has_vector": "image"}]}, "exact": True}))
    assert counted["count"] == 0
    assert ok(http.post(f"/collections/{unique_name}/points/count", json={"exact": True})) == {
        "count": 301}


@pytest.mark.parametrize("body, status, text", [
    ({"dense": {"size": 4}}, 400, "distance"),
    ({"dense": {"size": 0, "distance": "Dot"}}, 400, "size"),
    ({"dense": {"size": 4, "distance": "Dot"}, "sparse": {}}, 400, "exactly one"),
    ({"other": {}}, 400, "Object contains unknown field `other`"),
    ({}, 400, "exactly one"),
    ({"dense": {"size": 4, "distance": "Dot"},
      "extra": 1}, 400, "Object contains unknown field `extra`"),
    ({"dense": {"size": 4, "distance": "Dot", "on_disk": True}}, 400, "on_disk"),
    ({"sparse": {"modifier": "bm25"}}, 400, "modifier"),
])
def test_bad_vector_configs_change_nothing(
    http: HttpSession, unique_name: str, body: dict, status: int, text: str
) -> None:
    create(http, unique_name)
    before = ok(http.get(f"/collections/{unique_name}"))["config"]
    response = http.put(f"/collections/{unique_name}/vectors/extra", json=body)
    assert response.status_code == status, response.text
    assert text in response.json()["status"]["error"]
    assert ok(http.get(f"/collections/{unique_name}"))["config"] == before


def test_existing_missing_and_unnamed(http: HttpSession, unique_name: str) -> None:
    create(http, unique_name)
    response = http.put(f"/collections/{unique_name}/vectors/text",
                        json={"dense": {"size": 4, "distance": "Dot"}})
    assert response.status_code == 400 and "already exists" in response.text
    response = http.delete(f"/collections/{unique_name}/vectors/nothing")
    assert response.status_code == 404 and "does not exist" in response.text
    response = http.put("/collections/no_such_collection/vectors/x",
                        json={"dense": {"size": 4, "distance": "Dot"}})
    assert response.status_code == 404, response.text

    single = f"{unique_name}_single"
    ok(http.put(f"/collections/{single}", json={"vectors": {"size": 4, "distance": "Dot"}}))
    response = http.put(f"/collections/{single}/vectors/x",
                        json={"dense": {"size": 4, "distance": "Dot"}})
    assert response.status_code == 400 and "unnamed" in response.text


def test_kept_across_a_restart(own_node: NodeProcess, tmp_path: Path) -> None:
    http = HttpSession(own_node.url)
    rng = np.random.default_rng(3)
    create(http, "kept")
    upsert(http, "kept", [{"id": i, "vector": {"text": v}}
                          for i, v in enumerate(vectors(rng, 50))])
    ok(http.put("/collections/kept/vectors/image", json={"dense": {"size": 4, "distance": "Dot"}}))
    ok(http.put("/collections/kept/points/vectors?wait=true", json={"points": [
        {"id": 5, "vector": {"image": [0, 0, 1, 0]}}]}))
    ok(http.delete("/collections/kept/vectors/text"))
    own_node.restart()
    http = HttpSession(own_node.url)
    point = ok(http.post("/collections/kept/points", json={"ids": [5, 6], "with_vector": True}))
    assert point[0]["vector"] == {"image": [0, 0, 1, 0]}
    assert not point[1]["vector"]  # it never had an image, and its text is gone


def test_through_the_client(client: QdrantClient, unique_name: str) -> None:
    """create_vector_name / delete_vector_name, over REST or over gRPC (CreateVectorName,
    DeleteVectorName), with the same results and the same refusals."""
    name = f"{unique_name}_client"
    client.create_collection(name, vectors_config={
        "text": models.VectorParams(size=DIM, distance=models.Distance.COSINE)})
    result = client.create_vector_name(name, "image", models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=4, distance=models.Distance.DOT,
                                       datatype=models.VectorStorageDatatype.FLOAT16)))
    assert result.status == models.UpdateStatus.COMPLETED
    client.create_vector_name(name, "words", models.SparseVectorNameConfig(
        sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)))
    client.create_vector_name(name, "tokens", models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=2, distance=models.Distance.DOT,
                                       multivector_config=models.MultiVectorConfig(
                                           comparator=models.MultiVectorComparator.MAX_SIM))))
    params = client.get_collection(name).config.params
    assert params.vectors["tokens"].multivector_config.comparator == "max_sim"
    assert params.vectors["image"].size == 4
    assert params.vectors["image"].distance == models.Distance.DOT
    assert params.vectors["image"].datatype == models.Datatype.FLOAT16
    assert params.sparse_vectors["words"].modifier == models.Modifier.IDF

    client.upsert(name, [models.PointStruct(id=1, vector={
        "text": [1.0] * DIM, "image": [0, 1, 0, 0], "tokens": [[1, 0], [0, 1]]})], wait=True)
    hits = client.query_points(name, [0, 1, 0, 0], using="image").points
    assert [h.id for h in hits] == [1]
    hits = client.query_points(name, [[1, 0], [1, 1]], using="tokens").points
    assert [(h.id, round(h.score, 4)) for h in hits] == [(1, 2.0)]  # max_sim: 1 + 1

    assert client.delete_vector_name(name, "image").status == models.UpdateStatus.COMPLETED
    assert set(client.get_collection(name).config.params.vectors) == {"text", "tokens"}

    refusals = [
        (lambda: client.create_vector_name(name, "text", models.DenseVectorNameConfig(
            dense=models.DenseVectorConfig(size=4, distance=models.Distance.DOT))),
         400, "already exists"),
        (lambda: client.create_vector_name(name, "zero", models.DenseVectorNameConfig(
            dense=models.DenseVectorConfig(size=0, distance=models.Distance.DOT))),
         400, "size"),
        (lambda: client.delete_vector_name(name, "nothing"), 404, "does not exist"),
        (lambda: client.delete_vector_name("no_such_collection", "x"), 404, ""),
    ]
    for call, status, text in refusals:
        with pytest.raises(API_ERRORS) as refused:
            call()
        assert status_of(refused.value) == status, message_of(refused.value)
        assert text in message_of(refused.value)
    assert set(client.get_collection(name).config.params.vectors) == {"text", "tokens"}


@pytest.mark.parametrize("request_", [
    pb.CreateVectorNameRequest(vector_name="x"),  # neither dense nor sparse
    pb.CreateVectorNameRequest(vector_name="x", dense_config=pb.DenseVectorCreationConfig(
        size=4)),  # no distance
])
def test_bad_grpc_requests_are_invalid_arguments(
    node: NodeProcess, http: HttpSession, unique_name: str,
    request_: pb.CreateVectorNameRequest,
) -> None:
    """Requests the client cannot send, through the generated stub."""
    create(http, unique_name)
    request_.collection_name = unique_name
    with (grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel,
          pytest.raises(grpc.RpcError) as refused):
        pb.PointsStub(channel).CreateVectorName(request_, timeout=10)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


def test_across_a_cluster(cluster: Cluster) -> None:
    rng = np.random.default_rng(11)
    first, second, third = (cluster.http(n) for n in cluster.nodes)
    create(first, "spread", shard_number=3, replication_factor=2)
    cluster.wait_all_active("spread")
    upsert(first, "spread", [{"id": i, "vector": {"text": v}}
                             for i, v in enumerate(vectors(rng, 200))])
    ok(second.put("/collections/spread/vectors/image",
                  json={"dense": {"size": 4, "distance": "Dot"}}))
    image = {i: [float(i), 1.0, 0.0, 0.0] for i in range(0, 200, 10)}
    ok(third.put("/collections/spread/points/vectors?wait=true", json={"points": [
        {"id": i, "vector": {"image": v}} for i, v in image.items()]}))
    for http in (first, second, third):
        params = ok(http.get("/collections/spread"))["config"]["params"]
        assert "image" in params["vectors"]
        # Every replica holds the new values: read each shard's copies with consistency=all.
        counted = ok(http.post("/collections/spread/points/count?consistency=all", json={
            "filter": {"must": [{"has_vector": "image"}]}, "exact": True}))
        assert counted["count"] == len(image)
    ok(first.delete("/collections/spread/vectors/image"))
    for http in (first, second, third):
        points = ok(http.post("/collections/spread/points?consistency=all",
                              json={"ids": list(image), "with_vector": True}))
        assert all(set(p["vector"]) == {"text"} for p in points)
