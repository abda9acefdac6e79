"""Quantized multivectors through qdrant-client against a real node: every sub-vector of a
sealed segment has scalar, product or binary codes, max_sim over the codes picks the candidates
and the original sub-vectors rescore them. Local mode ignores quantization: with rescoring and
enough oversampling the results are the reference's (the congruence tolerance of the other
multivector tests); without rescoring they overlap it, with approximate scores. Also: the search
params that skip the codes, PATCH of the quantization, a snapshot copy."""

from __future__ import annotations

import time

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from test_multivector_congruence import MAX_SIM, _wait_indexed

from tests.test_query_congruence import _same

pytestmark = pytest.mark.timeout(240)

DIM = 32
N_POINTS = 500
LIMIT = 10
SEED = 20261204
SCALAR = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
    type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
# vector name -> (distance, its own quantization: None takes the collection's, SCALAR)
KINDS = {
    "scalar": (models.Distance.COSINE, SCALAR),
    "product": (models.Distance.DOT, models.ProductQuantization(
        product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X8))),
    "binary": (models.Distance.COSINE, models.BinaryQuantization(
        binary=models.BinaryQuantizationConfig(always_ram=True))),
    "binary_asymmetric": (models.Distance.EUCLID, models.BinaryQuantization(
        binary=models.BinaryQuantizationConfig(
            encoding=models.BinaryQuantizationEncoding.TWO_BITS,
            query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS))),
    "collection_scalar": (models.Distance.MANHATTAN, None),
    "bytes": (models.Distance.COSINE, SCALAR),  # stored as uint8 (see BYTES)
}
BYTES = {"bytes"}
# Candidates taken on the codes per result wanted: enough for the rescored top 10 to be exact.
OVERSAMPLING = {"scalar": 4.0, "product": 8.0, "binary": 8.0, "binary_asymmetric": 8.0,
                "collection_scalar": 4.0, "bytes": 4.0}
GRAPH_EF = models.SearchParams(hnsw_ef=128)


def _topics(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(40, DIM))


def _multivector(rng: np.random.Generator, topics: np.ndarray, rows: int,
                 as_bytes: bool = False) -> list[list[float]]:
    """Sub-vectors around two of the topics, as late-interaction embeddings cluster."""
    chosen = topics[rng.integers(0, len(topics), size=2)]
    picked = chosen[rng.integers(0, 2, size=rows)]
    values = picked + 0.35 * rng.normal(size=picked.shape)
    if as_bytes:
        return np.clip(np.rint(128 + 40 * values), 0, 255).tolist()
    return values.round(4).tolist()


def _vectors_config(names=KINDS) -> dict:
    return {name: models.VectorParams(size=DIM, distance=KINDS[name][0],
                                      quantization_config=KINDS[name][1],
                                      datatype=models.Datatype.UINT8 if name in BYTES else None,
                                      multivector_config=MAX_SIM)
            for name in names}


def _create_indexed(client: QdrantClient, name: str, points: list, vectors_config: dict,
                    quantization=SCALAR, shard_number: int = 2) -> None:
    """The collection with every point in sealed segments searched through their graphs."""
    client.create_collection(name, vectors_config=vectors_config, shard_number=shard_number,
                             quantization_config=quantization,
                             optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
                             hnsw_config=models.HnswConfigDiff(full_scan_threshold=10))
    client.upsert(name, points, wait=True)
    _wait_indexed(client, name, len(points) * len(vectors_config))


def _points(rng: np.random.Generator, count: int, names=KINDS) -> list[models.PointStruct]:
    topics = _topics(rng)
    return [models.PointStruct(id=i, vector={
        v: _multivector(rng, topics, int(rng.integers(2, 7)), v in BYTES) for v in names
    }, payload={"group": i % 5}) for i in range(count)]


@pytest.fixture(scope="module")
def quantized(client: QdrantClient, face: str):
    name = f"multivector_quantized_{face}"
    rng = np.random.default_rng(SEED)
    points = _points(rng, N_POINTS)
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=_vectors_config())
    reference.upsert(name, points)
    _create_indexed(client, name, points, _vectors_config())
    return name, reference, points, rng


def _query(rng: np.random.Generator, points: list, using: str) -> list[list[float]]:
    """A few perturbed sub-vectors of one stored point."""
    stored = np.asarray(points[int(rng.integers(0, len(points)))].vector[using])
    rows = stored[rng.integers(0, len(stored), size=int(rng.integers(1, 4)))]
    noise = 12.0 if using in BYTES else 0.3
    return (rows + noise * rng.normal(size=rows.shape)).round(4).tolist()


def _params(**quantization) -> models.SearchParams:
    return models.SearchParams(hnsw_ef=128, quantization=models.QuantizationSearchParams(
        **quantization))


@pytest.mark.parametrize("using", list(KINDS))
def test_rescored_results_match_reference(client, quantized, using):
    name, reference, points, rng = quantized
    for trial in range(10):
        flt = (models.Filter(must=[models.FieldCondition(
            key="group", match=models.MatchValue(value=trial % 5))]) if trial % 3 == 0 else None)
        kwargs = dict(query=_query(rng, points, using), using=using, query_filter=flt,
                      limit=LIMIT)
        ours = client.query_points(name, **kwargs, search_params=_params(
            rescore=True, oversampling=OVERSAMPLING[using])).points
        _same(ours, reference.query_points(name, **kwargs).points, f"{using} trial {trial}")


@pytest.mark.parametrize("using", list(KINDS))
def test_overlap_without_rescoring(client, quantized, using):
    """Without rescoring the scores are the codes' own: approximate, ranked by them. The
    overlap@10 with the reference, with and without rescoring, is printed for the report."""
    name, reference, points, rng = quantized
    overlap = {"rescore": 0, "no rescore": 0}
    approximate = 0
    trials = 20
    for _ in range(trials):
        kwargs = dict(query=_query(rng, points, using), using=using, limit=LIMIT)
        truth = {p.id: p.score for p in reference.query_points(name, **kwargs).points}
        rescored = client.query_points(name, **kwargs, search_params=_params(
            rescore=True, oversampling=OVERSAMPLING[using]))
        raw = client.query_points(name, **kwargs, search_params=_params(rescore=False)).points
        overlap["rescore"] += len(truth.keys() & {p.id for p in rescored.points})
        overlap["no rescore"] += len(truth.keys() & {p.id for p in raw})
        approximate += sum(abs(p.score - truth[p.id]) > 1e-3 for p in raw if p.id in truth)
        for p in rescored.points:  # rescored: the exact scores
            if p.id in truth:
                assert p.score == pytest.approx(truth[p.id], abs=1e-4)
    figures = {k: v / (trials * LIMIT) for k, v in overlap.items()}
    print(f"{using}: overlap@10 with the reference (rescored with oversampling "
          f"{OVERSAMPLING[using]}): {figures}")
    assert approximate > 0, "no approximate score: the codes were not used"
    assert figures["no rescore"] >= 0.3 and figures["rescore"] >= figures["no rescore"] - 0.05


def test_ignore_and_exact_skip_the_codes(client, quantized):
    name, reference, points, rng = quantized
    for using in ("scalar", "binary"):
        kwargs = dict(query=_query(rng, points, using), using=using, limit=LIMIT)
        theirs = reference.query_points(name, **kwargs).points
        ignored = client.query_points(name, **kwargs, search_params=_params(
            ignore=True, rescore=False)).points
        _same(ignored, theirs, f"{using} ignore")
        exact = client.query_points(name, **kwargs, search_params=models.SearchParams(
            exact=True, quantization=models.QuantizationSearchParams(rescore=False))).points
        _same(exact, theirs, f"{using} exact")


def test_score_threshold_applies_to_the_reported_scores(client, quantized):
    name, _, points, rng = quantized
    query = _query(rng, points, "scalar")
    raw = client.query_points(name, query=query, using="scalar", limit=LIMIT,
                              search_params=_params(rescore=False)).points
    threshold = raw[len(raw) // 2].score
    above = client.query_points(name, query=query, using="scalar", limit=LIMIT,
                                score_threshold=threshold,
                                search_params=_params(rescore=False)).points
    assert above and all(p.score >= threshold for p in above)
    assert [p.id for p in above] == [p.id for p in raw][: len(above)]


def _approximate_scores(client: QdrantClient, name: str, using: str, query) -> bool:
    """Whether a search without rescoring reports other scores than the exact ones."""
    raw = client.query_points(name, query=query, using=using, limit=LIMIT,
                              search_params=_params(rescore=False)).points
    exact = {p.id: p.score for p in client.query_points(
        name, query=query, using=using, limit=50,
        search_params=models.SearchParams(exact=True)).points}
    return any(abs(p.score - exact.get(p.id, np.inf)) > 1e-3 for p in raw)


def _eventually(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_patch_turns_codes_on_and_off(client, unique_name):
    """A vector's own quantization, then "Disabled", then the collection's: each change
    rebuilds the sealed segments, and searches follow."""
    rng = np.random.default_rng(SEED + 1)
    points = _points(rng, 300, names=["m"])
    config = {"m": models.VectorParams(size=DIM, distance=models.Distance.COSINE,
                                       multivector_config=MAX_SIM)}
    _create_indexed(client, unique_name, points, config, quantization=None, shard_number=1)
    query = _query(rng, points, "m")
    assert not _approximate_scores(client, unique_name, "m", query)

    client.update_collection(unique_name, vectors_config={"m": models.VectorParamsDiff(
        quantization_config=SCALAR)})
    stored = client.get_collection(unique_name).config.params.vectors["m"]
    # (gRPC carries the quantile as a float32)
    scalar = stored.quantization_config.scalar
    assert scalar.quantile == pytest.approx(0.99) and scalar.always_ram is True
    _eventually(lambda: _approximate_scores(client, unique_name, "m", query), "codes built")

    client.update_collection(unique_name, vectors_config={"m": models.VectorParamsDiff(
        quantization_config=models.Disabled.DISABLED)})
    _eventually(lambda: not _approximate_scores(client, unique_name, "m", query),
                "codes dropped")

    client.update_collection(unique_name, quantization_config=models.BinaryQuantization(
        binary=models.BinaryQuantizationConfig()))
    _eventually(lambda: _approximate_scores(client, unique_name, "m", query),
                "the collection's codes built")
    assert client.count(unique_name).count == 300


def test_snapshot_copy_keeps_the_codes(client, node, unique_name):
    rng = np.random.default_rng(SEED + 2)
    names = ["scalar", "binary"]
    points = _points(rng, 200, names=names)
    _create_indexed(client, unique_name, points, _vectors_config(names), shard_number=1)
    queries = {using: _query(rng, points, using) for using in names}

    def raw_results(collection: str) -> dict:
        return {using: [(p.id, round(p.score, 5)) for p in client.query_points(
            collection, query=query, using=using, limit=LIMIT,
            search_params=_params(rescore=False)).points] for using, query in queries.items()}

    before = raw_results(unique_name)
    assert any(_approximate_scores(client, unique_name, u, q) for u, q in queries.items())
    snapshot = client.create_snapshot(unique_name)
    location = f"file://{node.storage_path}/snapshots/{unique_name}/{snapshot.name}"
    assert client.recover_snapshot(unique_name + "_copy", location)
    assert raw_results(unique_name + "_copy") == before
