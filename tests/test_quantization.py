"""Quantized vectors: recall after rescoring, persistence, memory, edge cases."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from node.engine.quantization import QuantizedVectors, oversampled_limit
from node.engine.scoring import prepare_query, score_rows, top_k
from node.engine.shard_config import DenseVectorSpec

ROWS, DIM, QUERIES, LIMIT = 5000, 64, 40, 10

SCALAR = {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
PRODUCT = {"product": {"compression": "x16", "always_ram": True}}


def binary(encoding: str = "one_bit", query_encoding: str = "default") -> dict:
    return {"binary": {"always_ram": True, "encoding": encoding,
                       "query_encoding": query_encoding}}


@cache
def dataset(distance: str) -> tuple[DenseVectorSpec, np.ndarray, np.ndarray]:
    """Clustered rows as stored (normalised for Cosine) and prepared queries from the same mix.

    Many small clusters: a query's true neighbours stand out from the rest, as with embeddings.
    """
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(500, DIM)).astype(np.float32)

    def draw(n: int) -> np.ndarray:
        picks = rng.integers(0, len(centers), n)
        return (centers[picks] + 0.3 * rng.normal(size=(n, DIM))).astype(np.float32)

    spec = DenseVectorSpec(name="", size=DIM, distance=distance)
    rows = draw(ROWS)
    if distance == "Cosine":
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    queries = np.stack([prepare_query(spec, q) for q in draw(QUERIES)])
    return spec, rows, queries


def built(config: dict, distance: str) -> QuantizedVectors:
    return _built(json.dumps(config, sort_keys=True), distance)


@cache
def _built(config: str, distance: str) -> QuantizedVectors:
    # product codebooks take a second or two to train: each is built once for all tests
    return QuantizedVectors.build(json.loads(config), distance, dataset(distance)[1])


def recall(quantized: QuantizedVectors, spec: DenseVectorSpec, rows: np.ndarray,
           queries: np.ndarray, oversampling: float) -> float:
    """Mean recall@LIMIT of quantized candidates rescored exactly, against exact search."""
    hits = 0
    for query in queries:
        exact = top_k(spec.distance, score_rows(spec, query, rows), LIMIT)
        wanted = oversampled_limit(LIMIT, oversampling)
        candidates = top_k(spec.distance, quantized.scores(query), wanted)
        rescored = candidates[top_k(spec.distance, score_rows(spec, query, rows[candidates]),
                                    LIMIT)]
        hits += len(np.intersect1d(exact, rescored))
    return hits / (LIMIT * len(queries))


def report(name: str, config: dict, distance: str) -> dict[float, float]:
    spec, rows, queries = dataset(distance)
    quantized = built(config, distance)
    figures = {o: recall(quantized, spec, rows, queries, o) for o in (1, 2, 4)}
    per_vector = quantized.memory_bytes() / len(rows)
    print(f"{name:28s} {distance:9s} recall@10 x1 {figures[1]:.3f} x2 {figures[2]:.3f} "
          f"x4 {figures[4]:.3f}  {per_vector:6.1f} B/vector (float32 {DIM * 4})")
    return figures


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot", "Manhattan"])
def test_scalar_recall(distance: str) -> None:
    assert report("scalar int8 q0.99", SCALAR, distance)[2] >= 0.95


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot"])
@pytest.mark.parametrize("encoding", ["one_bit", "one_and_half_bits", "two_bits"])
def test_binary_recall(distance: str, encoding: str) -> None:
    figures = report(f"binary {encoding}", binary(encoding), distance)
    assert figures[4] >= 0.8


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot"])
@pytest.mark.parametrize("query_encoding", ["scalar4bits", "scalar8bits"])
def test_binary_asymmetric_recall(distance: str, query_encoding: str) -> None:
    figures = report(f"binary one_bit {query_encoding}", binary("one_bit", query_encoding),
                     distance)
    symmetric = report("binary one_bit", binary("one_bit"), distance)
    assert figures[4] >= 0.8
    assert figures[4] >= symmetric[4] - 0.02  # a finer query never costs recall


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot"])
def test_product_recall(distance: str) -> None:
    assert report("product x16", PRODUCT, distance)[4] >= 0.8


@pytest.mark.parametrize("config", [SCALAR, PRODUCT, binary(), binary("two_bits", "scalar8bits")])
def test_save_load_roundtrip(tmp_path, config: dict) -> None:
    spec, rows, queries = dataset("Euclid")
    method = next(iter(config))
    quantized = built(config, "Euclid")
    quantized.save(tmp_path / "ram")
    on_disk = QuantizedVectors.build({method: {**config[method], "always_ram": False}}, "Euclid",
                                     rows[:100])
    on_disk.save(tmp_path / "disk")
    for loaded in (QuantizedVectors.load(tmp_path / "ram"),
                   QuantizedVectors.load(tmp_path / "ram", in_ram=False)):
        assert loaded.method == method and len(loaded) == ROWS
        some = np.array([4, 0, 4999, 17])
        for query in queries[:3]:
            assert np.array_equal(quantized.scores(query), loaded.scores(query))
            assert np.array_equal(quantized.scores(query)[some], loaded.scores(query, some))
    assert QuantizedVectors.load(tmp_path / "ram").memory_bytes() == quantized.memory_bytes()
    tables = sum(table.nbytes for table in quantized.tables.values())
    assert QuantizedVectors.load(tmp_path / "ram", in_ram=False).memory_bytes() == tables
    # always_ram false: memory-mapped unless asked otherwise
    assert isinstance(QuantizedVectors.load(tmp_path / "disk").codes, np.memmap)
    assert not isinstance(QuantizedVectors.load(tmp_path / "disk", in_ram=True).codes, np.memmap)


@pytest.mark.parametrize(("config", "factor"), [
    (SCALAR, 3.7), (binary(), 32), (binary("two_bits"), 16), (PRODUCT, 16),
    ({"product": {"compression": "x64"}}, 64),
])
def test_memory_per_vector(config: dict, factor: float) -> None:
    # the tables are a fixed cost per segment; the codes shrink each vector by the factor
    rows = dataset("Euclid")[1]
    quantized = built(config, "Euclid")
    tables = sum(table.nbytes for table in quantized.tables.values())
    assert (quantized.memory_bytes() - tables) * factor <= rows.nbytes
    assert tables <= 4 * 256 * DIM + 4096  # at most one float per dimension per centroid


def test_scalar_per_dimension_bounds_beat_global() -> None:
    # components of different ranges: per-dimension bounds keep the narrow ones precise
    rng = np.random.default_rng(3)
    rows = (rng.normal(size=(2000, 32)) * np.geomspace(0.01, 10, 32)).astype(np.float32)
    quantized = QuantizedVectors.build({"scalar": {"type": "int8"}}, "Dot", rows)
    restored = quantized.tables["offset"] + quantized.tables["scale"] * quantized.codes
    low, high = rows.min(), rows.max()
    scale = (high - low) / 255
    global_restored = low + scale * np.rint((rows - low) / scale)
    assert np.abs(restored - rows).mean() < np.abs(global_restored - rows).mean() / 5


@pytest.mark.parametrize("config", [SCALAR, PRODUCT, binary("one_and_half_bits"),
                                    binary("one_bit", "scalar4bits")])
def test_uint8_rows(config: dict) -> None:
    # uint8 collections hand over float32 copies of the rows; Cosine rows are not normalised
    rng = np.random.default_rng(5)
    centers = rng.integers(0, 256, size=(300, DIM))
    rows = np.clip(centers[rng.integers(0, 300, 2000)] + rng.integers(-20, 21, (2000, DIM)),
                   0, 255).astype(np.uint8)
    spec = DenseVectorSpec(name="", size=DIM, distance="Cosine", datatype="uint8")
    queries = np.stack([prepare_query(spec, r.astype(np.float32)) for r in rows[:20]])
    quantized = QuantizedVectors.build(config, "Cosine", rows.astype(np.float32))
    assert recall(quantized, spec, rows.astype(np.float32), queries, 4) >= 0.8


@pytest.mark.parametrize("config", [SCALAR, PRODUCT, binary(), binary("two_bits", "scalar4bits")])
@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Manhattan"])
def test_empty_input(tmp_path, config: dict, distance: str) -> None:
    quantized = QuantizedVectors.build(config, distance, np.zeros((0, 8), np.float32))
    query = np.ones(8, np.float32)
    assert len(quantized) == 0 and len(quantized.scores(query)) == 0
    quantized.save(tmp_path / "q")
    loaded = QuantizedVectors.load(tmp_path / "q")
    assert len(loaded) == 0 and len(loaded.scores(query, np.zeros(0, np.int64))) == 0


def test_scores_follow_score_rows_orientation() -> None:
    # a row's own vector as query is its best match, whatever the distance's orientation
    for distance in ("Cosine", "Euclid", "Dot", "Manhattan"):
        spec, rows, _ = dataset(distance)
        for config in (SCALAR, PRODUCT, binary(), binary("two_bits", "scalar8bits")):
            if config is PRODUCT and distance == "Manhattan":
                continue  # spares a codebook training; Euclid has the same orientation
            quantized = built(config, distance)
            scores = quantized.scores(rows[123], np.arange(100, 200))
            if distance == "Dot":  # Dot favours long rows: compare with the exact order
                exact = score_rows(spec, rows[123], rows[100:200])
                assert np.corrcoef(scores, exact)[0, 1] > 0.8
            else:
                assert top_k(distance, scores, 1)[0] == 23, (distance, config)


def test_oversampled_limit() -> None:
    assert oversampled_limit(10, None) == 10
    assert oversampled_limit(10, 0.5) == 10
    assert oversampled_limit(10, 2.41) == 25
    assert oversampled_limit(0, 3) == 0


def _exact_similarities(distance: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """max_sim's orientation: dot product, negated squared Euclidean, negated Manhattan."""
    if distance in ("Cosine", "Dot"):
        return queries @ rows.T
    diff = queries[:, None, :] - rows[None, :, :]
    return -(diff * diff).sum(axis=2) if distance == "Euclid" else -np.abs(diff).sum(axis=2)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot", "Manhattan"])
@pytest.mark.parametrize("config, correlation", [
    (SCALAR, 0.99), (PRODUCT, 0.8), (binary(), 0.4), (binary("two_bits", "scalar8bits"), 0.75),
], ids=["scalar", "product", "binary", "binary-asymmetric"])
def test_similarities_approximate_max_sim_terms(distance: str, config: dict,
                                                correlation: float) -> None:
    """Several query sub-vectors at once against chosen rows, in max_sim's orientation and
    scale (squared for Euclid): close to the exact terms, whatever the kind of codes."""
    if config is PRODUCT and distance == "Manhattan":
        pytest.skip("spares a codebook training; Euclid has the same orientation")
    spec, rows, queries = dataset(distance)
    quantized = built(config, distance)
    picked = np.arange(3, ROWS, 5)
    approx = quantized.similarities(queries[:6], picked)
    exact = _exact_similarities(distance, queries[:6], rows[picked])
    assert approx.shape == exact.shape
    for i in range(len(exact)):
        assert np.corrcoef(approx[i], exact[i])[0, 1] > correlation, i
    if config is SCALAR:  # on the same scale: off by little on average
        assert np.abs(approx - exact).mean() < 0.05 * np.abs(exact).mean()
