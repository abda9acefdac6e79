"""The gRPC face (node/grpc) as a client sees it: the health check and its version, status codes
for bad input, the `api-key` metadata and JWT claims, methods not served, metrics, and
`service.grpc_port` off. The shared end-to-end tests also run over gRPC (tests/conftest.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import grpc
import jwt
import pytest
import requests
from nodeproc import NodeProcess
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb

ADMIN = "grpc-admin-key"
READER = "grpc-reader-key"


def _channel(node: NodeProcess) -> grpc.Channel:
    return grpc.insecure_channel(f"{node.host}:{node.grpc_port}")


@pytest.fixture(scope="module")
def stubs(node: NodeProcess) -> Iterator[tuple[pb.QdrantStub, pb.CollectionsStub,
                                                pb.PointsStub]]:
    with _channel(node) as channel:
        yield pb.QdrantStub(channel), pb.CollectionsStub(channel), pb.PointsStub(channel)


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    return refused.value.code(), refused.value.details()


def test_health_check_answers_the_qdrant_version(node, stubs) -> None:
    qdrant, _, _ = stubs
    reply = qdrant.HealthCheck(pb.HealthCheckRequest(), timeout=5)
    assert reply.version == "1.19.0"
    assert "flotilla" in reply.title
    assert requests.get(f"{node.url}/", timeout=5).json()["version"] == "1.19.0"


def test_todays_client_connects_without_a_compatibility_warning(node) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for prefer_grpc in (False, True):
            client = QdrantClient(url=node.url, grpc_port=node.grpc_port,
                                  prefer_grpc=prefer_grpc, timeout=10)
            client.get_collections()
            client.close()


def test_bad_input_gets_invalid_argument_and_nothing_is_written(stubs, unique_name) -> None:
    _, collections, points = stubs
    vectors = pb.VectorsConfig(params=pb.VectorParams(size=3, distance=pb.Cosine))
    collections.Create(pb.CreateCollection(collection_name=unique_name,
                                           vectors_config=vectors), timeout=10)
    code, details = _code(lambda: collections.Create(pb.CreateCollection(
        collection_name=unique_name, vectors_config=vectors), timeout=10))
    assert code is grpc.StatusCode.ALREADY_EXISTS and "already exists" in details

    def point(pid: int, size: int) -> pb.PointStruct:
        return pb.PointStruct(id=pb.PointId(num=pid), vectors=pb.Vectors(
            vector=pb.Vector(dense=pb.DenseVector(data=[1.0] * size))))

    code, details = _code(lambda: points.Upsert(pb.UpsertPoints(
        collection_name=unique_name, wait=True, points=[point(1, 3), point(2, 5)]), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details
    count = points.Count(pb.CountPoints(collection_name=unique_name, exact=True), timeout=10)
    assert count.result.count == 0  # no partial write

    code, _ = _code(lambda: points.Search(pb.SearchPoints(
        collection_name=unique_name, vector=[1.0, 2.0], limit=3), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    bad_range = pb.Filter(must=[pb.Condition(field=pb.FieldCondition(
        key="x", geo_radius=pb.GeoRadius(center=pb.GeoPoint(lat=500, lon=0), radius=1)))])
    code, _ = _code(lambda: points.Count(pb.CountPoints(
        collection_name=unique_name, filter=bad_range), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    code, details = _code(lambda: points.Search(pb.SearchPoints(
        collection_name="no_such_collection", vector=[1.0, 2.0, 3.0], limit=3), timeout=10))
    assert code is grpc.StatusCode.NOT_FOUND and "no_such_collection" in details


def test_bad_cluster_operations_are_refused(stubs, unique_name) -> None:
    """UpdateCollectionClusterSetup refuses what REST's POST /collections/{name}/cluster
    refuses, with the status code Qdrant maps it to; the placement is unchanged."""
    _, collections, _ = stubs
    collections.Create(pb.CreateCollection(
        collection_name=unique_name, vectors_config=pb.VectorsConfig(
            params=pb.VectorParams(size=3, distance=pb.Distance.Dot))), timeout=10)
    before = collections.CollectionClusterInfo(
        pb.CollectionClusterInfoRequest(collection_name=unique_name), timeout=10)
    for request, code in [
        (pb.UpdateCollectionClusterSetupRequest(collection_name=unique_name),
         grpc.StatusCode.INVALID_ARGUMENT),  # no operation
        (pb.UpdateCollectionClusterSetupRequest(
            collection_name=unique_name, create_shard_key=pb.CreateShardKey(
                shard_key=pb.ShardKey(keyword="k"))), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.UpdateCollectionClusterSetupRequest(
            collection_name=unique_name, replicate_shard=pb.ReplicateShard(
                shard_id=0, from_peer_id=1, to_peer_id=2, to_shard_id=3)),
         grpc.StatusCode.INVALID_ARGUMENT),  # to_shard_id is Qdrant-internal
        (pb.UpdateCollectionClusterSetupRequest(
            collection_name="no_such_collection", drop_replica=pb.Replica(
                shard_id=0, peer_id=1)), grpc.StatusCode.NOT_FOUND),
    ]:
        got, details = _code(lambda r=request: collections.UpdateCollectionClusterSetup(
            r, timeout=10))
        assert got is code, (request, details)
        assert details
    after = collections.CollectionClusterInfo(
        pb.CollectionClusterInfoRequest(collection_name=unique_name), timeout=10)
    before.ClearField("time")
    after.ClearField("time")
    assert after == before


def test_shard_key_methods_are_served(stubs, node) -> None:
    _, collections, _ = stubs
    code, details = _code(lambda: collections.CreateShardKey(
        pb.CreateShardKeyRequest(collection_name="x", request=pb.CreateShardKey(
            shard_key=pb.ShardKey(keyword="k"))), timeout=5))
    assert code is grpc.StatusCode.NOT_FOUND and "`x`" in details
    code, details = _code(lambda: collections.ListShardKeys(
        pb.ListShardKeysRequest(collection_name="x"), timeout=5))
    assert code is grpc.StatusCode.NOT_FOUND


def test_calls_are_counted_by_method_and_status(node, stubs) -> None:
    _, collections, _ = stubs
    collections.List(pb.ListCollectionsRequest(), timeout=5)
    _code(lambda: collections.Get(pb.GetCollectionInfoRequest(collection_name="missing_one"),
                                  timeout=5))
    metrics = requests.get(f"{node.url}/metrics", timeout=5).text
    assert 'flotilla_grpc_requests_total{method="/qdrant.Collections/List",status="OK"}' \
        in metrics
    assert ('flotilla_grpc_requests_total{method="/qdrant.Collections/Get",'
            'status="NOT_FOUND"}') in metrics
    assert 'grpc_responses_total{endpoint="/qdrant.Collections/List"}' in metrics
    assert 'grpc_responses_fail_total{endpoint="/qdrant.Collections/Get"}' in metrics
    telemetry = requests.get(f"{node.url}/telemetry?details_level=1", timeout=5).json()
    grpc_stats = telemetry["result"]["requests"]["grpc"]["responses"]
    assert grpc_stats["/qdrant.Collections/List"]["0"]["count"] >= 1
    assert grpc_stats["/qdrant.Collections/Get"]["5"]["count"] >= 1


# ------------------------------------------------------------------ credentials


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path_factory.mktemp("grpc_keyed") / "storage", name="grpc_keyed",
                       env={"QDRANT__SERVICE__API_KEY": ADMIN,
                            "QDRANT__SERVICE__READ_ONLY_API_KEY": READER,
                            "QDRANT__SERVICE__JWT_RBAC": "true"})
    node.start_and_wait()
    try:
        yield node
    finally:
        node.stop()


def _client(node: NodeProcess, key: str | None) -> QdrantClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client warns about a key over plain http
        return QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True,
                            api_key=key, timeout=10, check_compatibility=False)


def test_api_key_metadata_is_checked_like_the_header(keyed) -> None:
    admin = _client(keyed, ADMIN)
    admin.create_collection("kept", vectors_config=models.VectorParams(size=2, distance="Dot"))
    admin.upsert("kept", [models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
    with _channel(keyed) as channel:
        collections = pb.CollectionsStub(channel)
        code, details = _code(lambda: collections.List(pb.ListCollectionsRequest(), timeout=5))
        assert code is grpc.StatusCode.UNAUTHENTICATED and "API key" in details
        code, _ = _code(lambda: collections.List(pb.ListCollectionsRequest(), timeout=5,
                                                 metadata=[("api-key", "wrong")]))
        assert code is grpc.StatusCode.UNAUTHENTICATED
        # The health check stays open, like REST's `GET /`.
        assert pb.QdrantStub(channel).HealthCheck(pb.HealthCheckRequest(), timeout=5).version

    reader = _client(keyed, READER)
    assert reader.count("kept").count == 1
    with pytest.raises(grpc.RpcError) as refused:
        reader.upsert("kept", [models.PointStruct(id=2, vector=[0.0, 1.0])], wait=True)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert admin.count("kept").count == 1


def test_jwt_claims_hold_over_grpc(keyed) -> None:
    admin = _client(keyed, ADMIN)
    for name in ("mine", "theirs"):
        admin.create_collection(name, vectors_config=models.VectorParams(size=2,
                                                                          distance="Dot"))
    token = jwt.encode({"access": [{"collection": "mine", "access": "rw"}]}, ADMIN,
                       algorithm="HS256")
    scoped = _client(keyed, token)
    scoped.upsert("mine", [models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
    assert [c.name for c in scoped.get_collections().collections] == ["mine"]
    with pytest.raises(grpc.RpcError) as refused:
        scoped.count("theirs")
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as refused:
        scoped.query_points("mine", query=[1.0, 0.0],
                            lookup_from=models.LookupLocation(collection="theirs"))
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


# ------------------------------------------------------------------ off


def test_grpc_port_null_serves_no_grpc(tmp_path) -> None:
    port_holder = NodeProcess(tmp_path / "unused", name="unused")  # only for a free port
    node = NodeProcess(tmp_path / "storage", name="no_grpc", grpc_port=False,
                       env={"FLOTILLA__SERVICE__GRPC_PORT": str(port_holder.grpc_port)})
    node.start_and_wait()
    try:
        assert "--grpc-port off" in " ".join(node.command())
        assert requests.get(f"{node.url}/collections", timeout=5).status_code == 200
        with grpc.insecure_channel(f"{node.host}:{port_holder.grpc_port}") as channel:
            code, _ = _code(lambda: pb.QdrantStub(channel).HealthCheck(
                pb.HealthCheckRequest(), timeout=2))
        assert code is grpc.StatusCode.UNAVAILABLE
    finally:
        node.stop()


def test_points_read_directly_equal_the_converters_reading() -> None:
    """node/grpc/to_rest.py reads dense points itself; the result is what qdrant-client's
    converters make of the same message."""
    from qdrant_client.conversions.conversion import GrpcToRest

    from node.grpc.to_rest import plain, point_struct

    def dense(values: list[float]) -> pb.Vector:
        return pb.Vector(dense=pb.DenseVector(data=values))

    points = [
        pb.PointStruct(id=pb.PointId(num=1), vectors=pb.Vectors(vector=dense([0.1, 0.2])),
                       payload={"a": pb.Value(string_value="x"), "n": pb.Value(null_value=0),
                                "l": pb.Value(list_value=pb.ListValue(
                                    values=[pb.Value(integer_value=3)]))}),
        pb.PointStruct(id=pb.PointId(uuid="5c56c793-69f3-4fbf-87e6-c4bf54c28c26"),
                       vectors=pb.Vectors(vector=pb.Vector(data=[0.5, 0.25]))),
        pb.PointStruct(id=pb.PointId(num=2), vectors=pb.Vectors(vectors=pb.NamedVectors(
            vectors={"a": dense([1.0]), "b": dense([2.0, 3.0])}))),
        pb.PointStruct(id=pb.PointId(num=3), vectors=pb.Vectors(vectors=pb.NamedVectors(
            vectors={"s": pb.Vector(sparse=pb.SparseVector(indices=[1], values=[2.0])),
                     "d": dense([1.0])}))),
    ]
    for point in points:
        assert point_struct(point) == plain(GrpcToRest.convert_point_struct(point))


def test_consistency_ordering_and_timeout_are_read_like_the_query_parameters(
        stubs, unique_name) -> None:
    _, collections, points = stubs
    collections.Create(pb.CreateCollection(collection_name=unique_name, vectors_config=(
        pb.VectorsConfig(params=pb.VectorParams(size=2, distance=pb.Dot)))), timeout=10)
    points.Upsert(pb.UpsertPoints(
        collection_name=unique_name, wait=True, ordering=pb.WriteOrdering(type=pb.Strong),
        points=[pb.PointStruct(id=pb.PointId(num=1), vectors=pb.Vectors(
            vector=pb.Vector(dense=pb.DenseVector(data=[1.0, 0.0]))))]), timeout=10)
    for consistency in (pb.ReadConsistency(type=pb.Majority), pb.ReadConsistency(factor=1)):
        counted = points.Count(pb.CountPoints(collection_name=unique_name, exact=True,
                                              read_consistency=consistency), timeout=10)
        assert counted.result.count == 1
    code, details = _code(lambda: points.Count(pb.CountPoints(
        collection_name=unique_name, read_consistency=pb.ReadConsistency(factor=0)),
        timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "consistency" in details
    code, details = _code(lambda: points.Count(pb.CountPoints(
        collection_name=unique_name, timeout=0), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "timeout" in details
