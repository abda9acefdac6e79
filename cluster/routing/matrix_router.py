"""`POST /collections/{name}/points/search/matrix/pairs` and `/offsets`: a random sample of the
points a filter lets through, and for each sampled point its nearest neighbours among the
sample.

The sample is uniform over the whole collection: each shard draws up to `sample` of its
matching points at random and tells how many it has; how many of the sample come from each
shard is then drawn from those counts (a multivariate hypergeometric draw, what sampling the
union without replacement gives), and the matrix is scored here, across shards.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import numpy as np

from cluster.routing.collection_view import CollectionView, CollectionViews
from cluster.routing.query_executor import idf_rescaler
from cluster.routing.read_checks import check_read
from cluster.routing.strict_mode import RateLimiter
from node.engine.distance_matrix import Vector, nearest_among, nearest_among_sparse
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.ids import PointId
from node.engine.point_order import point_id_order
from node.errors import BadRequest
from node.model.aggregates import DEFAULT_MATRIX_LIMIT, DEFAULT_MATRIX_SAMPLE, MatrixRequest
from node.model.shard_keys import ShardKeySelector

Neighbours = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class MatrixPlan:
    using: str  # "" is the unnamed (default) vector
    sample: int
    limit: int
    filter: CompiledFilter | None
    shard_key: ShardKeySelector | None = None

    @classmethod
    def of(cls, request: MatrixRequest) -> MatrixPlan:
        return cls(
            using=request.using or "",
            sample=DEFAULT_MATRIX_SAMPLE if request.sample is None else request.sample,
            limit=DEFAULT_MATRIX_LIMIT if request.limit is None else request.limit,
            filter=compile_filter(request.filter),
            shard_key=request.shard_key,
        )


class MatrixRouter:
    def __init__(self, views: CollectionViews, limiter: RateLimiter) -> None:
        self._views = views
        self._limiter = limiter

    async def pairs(self, name: str, request: MatrixRequest) -> dict:
        ids, neighbours = await self._matrix(name, MatrixPlan.of(request))
        return {"pairs": [
            {"a": ids[row], "b": ids[col], "score": score}
            for row, found in enumerate(neighbours) for col, score in found
        ]}

    async def offsets(self, name: str, request: MatrixRequest) -> dict:
        ids, neighbours = await self._matrix(name, MatrixPlan.of(request))
        return {
            "offsets_row": [row for row, found in enumerate(neighbours) for _ in found],
            "offsets_col": [col for found in neighbours for col, _ in found],
            "scores": [score for found in neighbours for _, score in found],
            "ids": ids,
        }

    async def _matrix(self, name: str, request: MatrixPlan) -> tuple[list[PointId], Neighbours]:
        """The sampled ids in id order and each one's neighbours (by position in the ids)."""
        view = self._views.named(name, request.shard_key)
        _check_vector(view, request.using)
        check_read(self._limiter, view.meta, request.filter)
        sampled = await self._sample(view, request)
        if len(sampled) < 2:  # no matrix of fewer than two points
            return [], []
        sampled.sort(key=lambda item: point_id_order(item[0]))
        ids = [pid for pid, _ in sampled]
        vectors = [vector for _, vector in sampled]
        dense = view.config.dense.get(request.using)
        if dense is not None:
            neighbours = await asyncio.to_thread(nearest_among, dense, np.stack(vectors),
                                                 request.limit)
            return ids, neighbours
        # A sparse vector: each sampled point is the query of a sparse search in the sample.
        queries = vectors
        if view.config.sparse[request.using].modifier == "idf":
            rescale = await idf_rescaler(view, request.using, vectors)
            queries = [rescale(v) for v in vectors]
        neighbours = await asyncio.to_thread(nearest_among_sparse, vectors, queries,
                                             request.limit)
        return ids, neighbours

    async def _sample(self, view: CollectionView, request: MatrixPlan
                      ) -> list[tuple[PointId, Vector]]:
        seed = secrets.randbits(63)
        parts = await asyncio.gather(
            *(s.matrix_sample(request.using, request.filter, request.sample, seed)
              for s in view.shards)
        )
        counts = [count for count, _ in parts]
        wanted = min(request.sample, sum(counts))
        if wanted == 0:
            return []
        taken = np.random.default_rng(seed).multivariate_hypergeometric(counts, wanted)
        return [point for (_, drawn), n in zip(parts, taken, strict=True)
                for point in drawn[: int(n)]]


def _check_vector(view: CollectionView, using: str) -> None:
    if using in view.config.multi:
        raise BadRequest(f"Wrong input: `{using}` is a multivector; the distance matrix is "
                         "computed for dense and sparse vectors only in Flotilla")
    if using not in view.config.dense and using not in view.config.sparse:
        raise BadRequest(f"Wrong input: Not existing vector name error: {using}")
