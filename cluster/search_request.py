"""Reading the search part of Qdrant requests: which vector, the query, limit and params."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.engine.scoring import prepare_query
from node.engine.search import SearchParams
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest


@dataclass
class DenseQuery:
    vector_name: str
    query: np.ndarray  # prepared for the vector's distance
    limit: int
    offset: int
    params: SearchParams
    score_threshold: float | None


def read_limit(body: dict, key: str = "limit", default: int | None = 10) -> int:
    value = body.get(key, default)
    if value is None and key == "limit" and "top" in body:
        value = body["top"]  # the older name of `limit`
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{key}: expected a non-negative integer, got {value!r}")
    return value


def read_params(raw: object) -> SearchParams:
    if raw is None:
        return SearchParams()
    if not isinstance(raw, dict):
        raise BadRequest("params: expected an object")
    ef = raw.get("hnsw_ef")
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or ef < 0):
        raise BadRequest(f"params.hnsw_ef: expected a non-negative integer, got {ef!r}")
    for flag in ("exact", "indexed_only"):
        if raw.get(flag) is not None and not isinstance(raw.get(flag), bool):
            raise BadRequest(f"params.{flag}: expected true or false")
    return SearchParams(
        hnsw_ef=ef, exact=bool(raw.get("exact")), indexed_only=bool(raw.get("indexed_only"))
    )


def read_dense_vector(config: ShardConfig, name: str, raw: object, where: str) -> np.ndarray:
    spec = config.dense.get(name)
    if spec is None:
        label = f"`{name}`" if name else "the unnamed vector"
        known = ", ".join(repr(n) for n in sorted(config.dense)) or "none"
        raise BadRequest(f"{where}: {label} does not exist in this collection (vectors: {known})")
    if not isinstance(raw, list) or any(isinstance(x, (list, dict, bool)) for x in raw):
        raise BadRequest(f"{where}: expected a vector of {spec.size} numbers")
    try:
        vector = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRequest(f"{where}: vector values must be numbers") from None
    if vector.shape != (spec.size,):
        raise BadRequest(
            f"{where}: wrong vector dimension: expected {spec.size}, got {len(raw)}"
        )
    if not np.isfinite(vector).all():
        raise BadRequest(f"{where}: vector values must be finite (no NaN or infinity)")
    return prepare_query(spec, vector)


def read_threshold(body: dict) -> float | None:
    value = body.get("score_threshold")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"score_threshold: expected a number, got {value!r}")
    return float(value)


def legacy_search_query(config: ShardConfig, body: dict) -> DenseQuery:
    """`POST /points/search`: `vector` is a list, or {"name", "vector"} for a named vector."""
    raw = body.get("vector")
    name = ""
    if isinstance(raw, dict):
        name = raw.get("name")
        if not isinstance(name, str):
            raise BadRequest("vector.name: expected the name of a vector")
        raw = raw.get("vector")
    return DenseQuery(
        vector_name=name,
        query=read_dense_vector(config, name, raw, "vector"),
        limit=read_limit(body, default=None),
        offset=read_limit(body, "offset", 0),
        params=read_params(body.get("params")),
        score_threshold=read_threshold(body),
    )


def nearest_query(config: ShardConfig, body: dict) -> DenseQuery:
    """`POST /points/query` with a dense vector (or {"nearest": vector}) and `using`."""
    raw = body.get("query")
    if isinstance(raw, dict) and "nearest" in raw:
        raw = raw["nearest"]
    name = body.get("using") or ""
    if not isinstance(name, str):
        raise BadRequest("using: expected a vector name")
    return DenseQuery(
        vector_name=name,
        query=read_dense_vector(config, name, raw, "query"),
        limit=read_limit(body),
        offset=read_limit(body, "offset", 0),
        params=read_params(body.get("params")),
        score_threshold=read_threshold(body),
    )
