"""Executing query plans over a collection: example lookup, fan-out to shards, merge, fusion.

A plan with prefetches runs them first; a fusion query fuses their results (rrf, dbsf), a
vector query rescores their union. Point ids given as examples are looked up (in `lookup_from`
when given) and, when they belong to the searched collection, left out of the results.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections.abc import Awaitable, Callable

import numpy as np

from cluster.routing.collection_view import CollectionView
from cluster.routing.order_by import order_points, require_ordered_index
from cluster.routing.query_request import QueryPlan
from node.engine import mmr
from node.engine.filters import compile_filter
from node.engine.formula import Candidate, score_points, with_text_indexes
from node.engine.ids import PointId
from node.engine.max_sim import prepare_multi_query
from node.engine.multivector import check_query_multivector
from node.engine.point_batch import SparseVector
from node.engine.point_order import point_id_order
from node.engine.query_scoring import FEEDBACK, NEAREST, VectorQuery
from node.engine.scoring import prepare_queries, prepare_query, smaller_is_better
from node.engine.search import SearchParams
from node.engine.shard_config import ShardConfig
from node.engine.shard_query import Hit
from node.engine.text_analyzer import text_analyzers
from node.errors import BadRequest, NotFound
from node.model.filters import Condition, Filter

RRF_RANK_CONSTANT = 2  # the default k of 1 / (k + rank), as Qdrant's rrf


Lookup = Callable[[str], Awaitable[CollectionView]]
Fetch = Callable[[CollectionView, list[PointId]], Awaitable[dict[PointId, tuple]]]


class QueryExecutor:
    def __init__(self, lookup: Lookup, fetch: Fetch, scan) -> None:
        self._lookup = lookup
        self._fetch = fetch
        self._scan = scan  # (view, filter, restrict_ids) -> list of (pid, payload, vectors)

    async def run_batch(self, view: CollectionView, plans: list[QueryPlan]) -> list[list[Hit]]:
        """Many plans; the plain ones (a dense vector, no filter, prefetch or lookup) that
        share a vector, limits and params go to each shard as one batch."""
        results: list[list[Hit] | None] = [None] * len(plans)
        groups: dict[tuple, list[int]] = {}
        for i, plan in enumerate(plans):
            if _plain_dense(view, plan):
                # params may hold a dict (quantization): grouped by their repr
                key = (plan.using, plan.limit + plan.offset, repr(plan.params),
                       plan.score_threshold)
                groups.setdefault(key, []).append(i)
        for (name, k, _, threshold), members in groups.items():
            params = plans[members[0]].params
            spec = view.config.dense[name]
            queries = _query_matrix(view.config, name, [plans[i].nearest for i in members])
            per_shard = await asyncio.gather(
                *(shard.query_batch(name, queries, k, _lean(params), threshold)
                  for shard in view.shards)
            )
            sign = 1.0 if smaller_is_better(spec.distance) else -1.0
            for position, i in enumerate(members):
                if len(per_shard) == 1:  # each shard's hits come best first already
                    merged = per_shard[0][position]
                else:
                    merged = sorted((h for hits in per_shard for h in hits[position]),
                                    key=lambda h: sign * h[0])
                results[i] = merged[plans[i].offset : k]
        others = [i for i, r in enumerate(results) if r is None]
        for i, hits in zip(others, await asyncio.gather(*(self.run(view, plans[i])
                                                          for i in others)), strict=True):
            results[i] = hits
        return results

    async def run(self, view: CollectionView, plan: QueryPlan) -> list[Hit]:
        """Hits (score, id, payload, vectors) of the plan, after offset, best first."""
        hits = await self._evaluate(view, plan)
        return hits[plan.offset :]

    async def _evaluate(self, view: CollectionView, plan: QueryPlan) -> list[Hit]:
        k = plan.limit + plan.offset
        restrict: set[PointId] | None = None
        if plan.prefetch:
            sources = await asyncio.gather(*(self._evaluate(view, p) for p in plan.prefetch))
            if plan.kind == "fusion":
                return _fuse(plan, list(sources), k)
            if plan.kind == "formula":
                return await self._formula(view, plan, list(sources), k)
            restrict = {hit[1] for source in sources for hit in source}
            if not restrict:
                return []
            if plan.kind is None:
                raise BadRequest("query: a query is needed to combine prefetch results")
        if plan.mmr is not None:
            return await self._mmr(view, plan, k, restrict)
        if plan.kind in ("nearest", "recommend", "discover", "context", "relevance_feedback"):
            return await self._vector_query(view, plan, k, restrict)
        if plan.kind in (None, "order_by", "sample"):
            return await self._scan_query(view, plan, k, restrict)
        raise BadRequest(f"query: `{plan.kind}` needs prefetch sources")

    # ---- vector queries -------------------------------------------------------------------

    async def _vector_query(
        self, view: CollectionView, plan: QueryPlan, k: int, restrict: set[PointId] | None
    ) -> list[Hit]:
        query, mentioned = await self._resolve(view, plan)
        point_filter = _excluding(plan.filter, mentioned) if mentioned else plan.filter
        calls = [shard.query(query, k, _lean(plan.params), point_filter, plan.score_threshold,
                             restrict) for shard in view.shards]
        if len(calls) == 1:  # a single node's usual case: no task to schedule, nothing to merge
            return (await calls[0])[:k]
        per_shard = await asyncio.gather(*calls)
        spec = _spec_of(view.config, query)
        sign = -1.0 if query.bigger_is_better(spec) else 1.0
        merged = sorted((h for hits in per_shard for h in hits), key=lambda h: sign * h[0])
        return merged[:k]

    async def _resolve(self, view: CollectionView, plan: QueryPlan) -> tuple[VectorQuery, set]:
        """Turn the plan's inputs into vectors of the searched vector: ids are looked up."""
        name = plan.using
        config = view.config
        sparse = name in config.sparse
        if not sparse and name not in config.dense and name not in config.multi:
            label = f"`{name}`" if name else "the unnamed vector"
            known = ", ".join(repr(n) for n in config.vector_names()) or "none"
            raise BadRequest(f"using: {label} does not exist in this collection (vectors: {known})")
        source = view
        source_vector = name
        if plan.lookup_from is not None:
            source = await self._lookup(plan.lookup_from[0])
            source_vector = plan.lookup_from[1] or name
        inputs = [plan.nearest, *plan.positives, *plan.negatives, plan.target]
        inputs += [x for pair in plan.pairs for x in pair]
        inputs += [example for example, _ in plan.feedback]
        ids = [x for x in inputs if isinstance(x, (int, str))]
        looked_up = await self._fetch(source, ids) if ids else {}
        mentioned = set(ids) if source.meta.uuid == view.meta.uuid else set()

        def vector_of(value, where: str):
            if value is None:
                return None
            if isinstance(value, (int, str)):
                if value not in looked_up:
                    raise NotFound(f"No point with id {value} found in `{source.meta.name}`")
                stored = looked_up[value][1].get(source_vector)
                if stored is None:
                    raise BadRequest(f"{where}: point {value} has no vector `{source_vector}`")
                value = stored
            if plan.single_as_multi and name in config.multi and np.ndim(value) == 1:
                value = np.asarray(value)[None, :]
            return _check_vector(config, name, sparse, value, where)

        query = VectorQuery(vector_name=name, kind=NEAREST, sparse=sparse)
        if plan.kind == "nearest":
            query.nearest = vector_of(plan.nearest, "query")
        elif plan.kind == "recommend":
            positives = [vector_of(v, "positive") for v in plan.positives]
            negatives = [vector_of(v, "negative") for v in plan.negatives]
            if plan.strategy == "average_vector" and name in config.multi:
                raise BadRequest("recommend: the average_vector strategy does not apply to "
                                 "multivectors; use best_score or sum_scores")
            if plan.strategy == "average_vector":
                query.nearest = _average(positives, negatives, sparse)
            else:
                query.kind = plan.strategy
                query.positives, query.negatives = positives, negatives
        elif plan.kind == "discover":
            query.kind = "discover"
            query.target = vector_of(plan.target, "target")
            query.pairs = [(vector_of(p, "context"), vector_of(n, "context"))
                           for p, n in plan.pairs]
        elif plan.kind == "relevance_feedback":
            if sparse or name in config.multi:
                kind = "sparse" if sparse else "a multivector"
                raise BadRequest("query.relevance_feedback: works on dense vectors; "
                                 f"`{name}` is {kind}")
            query.kind = FEEDBACK
            query.target = vector_of(plan.target, "target")
            examples = [(vector_of(v, "feedback"), score) for v, score in plan.feedback]
            query.scale, b, c = plan.naive
            # Every ordered pair of examples whose scores differ pulls towards the better one,
            # by c * (score difference) ** b.
            for better, better_score in examples:
                for worse, worse_score in examples:
                    confidence = better_score - worse_score
                    if confidence > 0:
                        query.pairs.append((better, worse))
                        query.weights.append(confidence**b * c)
        else:
            query.kind = "context"
            query.pairs = [(vector_of(p, "context"), vector_of(n, "context"))
                           for p, n in plan.pairs]
        if sparse:
            await self._apply_idf(view, query)
        elif name in config.multi:
            multi_spec = config.multi[name]
            _prepare_all(query, lambda v: prepare_multi_query(multi_spec, v))
        else:
            spec = config.dense[name]
            _prepare_all(query, lambda v: prepare_query(spec, v))
        return query, mentioned

    async def _apply_idf(self, view: CollectionView, query: VectorQuery) -> None:
        spec = view.config.sparse[query.vector_name]
        if spec.modifier != "idf":
            return
        vectors = [v for v in _all_vectors(query) if v is not None]
        _prepare_all(query, await idf_rescaler(view, query.vector_name, vectors))

    # ---- scans: no query, order_by, sample ------------------------------------------------

    async def _mmr(
        self, view: CollectionView, plan: QueryPlan, k: int, restrict: set[PointId] | None
    ) -> list[Hit]:
        """Nearest candidates (`candidates_limit`, else `limit`, of them, from the top), then
        `k` of them picked by maximal marginal relevance; each keeps its similarity score."""
        diversity, candidates_limit = plan.mmr
        if plan.using in view.config.multi:
            raise BadRequest(f"query.mmr: `{plan.using}` is a multivector; MMR re-ranks dense "
                             "and sparse vectors only in Flotilla")
        wanted = plan.limit if candidates_limit is None else candidates_limit
        candidates = await self._vector_query(view, plan, wanted, restrict)
        if not candidates:
            return []
        query, _ = await self._resolve(view, plan)
        stored = await self._fetch(view, [hit[1] for hit in candidates])
        candidates = [hit for hit in candidates if plan.using in stored.get(hit[1], ({}, {}))[1]]
        if not candidates:
            return []
        rows = [stored[hit[1]][1][plan.using] for hit in candidates]
        if query.sparse:
            # The reference compares with the query as given, before any idf weighting.
            given = plan.nearest if isinstance(plan.nearest, SparseVector) else query.nearest
            to_query, between = mmr.sparse_similarities(given, rows)
        else:
            spec = view.config.dense[plan.using]
            to_query, between = mmr.dense_similarities(spec, query.nearest, np.stack(rows))
        return [candidates[i] for i in mmr.select(to_query, between, diversity, k)]

    async def _formula(
        self, view: CollectionView, plan: QueryPlan, sources: list[list[Hit]], k: int
    ) -> list[Hit]:
        """The union of the prefetch results, rescored by the plan's formula."""
        by_source = [{hit[1]: hit[0] for hit in source} for source in sources]
        ids = list(dict.fromkeys(hit[1] for source in sources for hit in source))
        stored = await self._fetch(view, ids)
        candidates = [
            Candidate(pid, stored[pid][0] or {}, [scores.get(pid) for scores in by_source],
                      stored[pid][1].__contains__)
            for pid in ids if pid in stored  # a point deleted since its prefetch is left out
        ]
        expression = with_text_indexes(plan.formula,
                                       text_analyzers(view.meta.payload_indexes))
        scores = score_points(expression, candidates, plan.formula_defaults)
        hits = [(score, c.point_id, None, {}) for score, c in zip(scores, candidates,
                                                                     strict=True)]
        if plan.score_threshold is not None:
            hits = [hit for hit in hits if hit[0] >= plan.score_threshold]
        hits.sort(key=lambda hit: (-hit[0], point_id_order(hit[1])))
        return hits[:k]

    async def _scan_query(
        self, view: CollectionView, plan: QueryPlan, k: int, restrict: set[PointId] | None
    ) -> list[Hit]:
        if plan.kind == "order_by":
            require_ordered_index(view.meta.payload_indexes, plan.order_by["key"])
        points = await self._scan(view, plan.filter, restrict)
        if plan.kind == "sample":
            random.shuffle(points)
            return [(0.0, pid, payload, vectors) for pid, payload, vectors in points[:k]]
        if plan.kind == "order_by":
            return order_points(points, plan.order_by, k)
        points.sort(key=lambda p: point_id_order(p[0]))
        return [(0.0, pid, payload, vectors) for pid, payload, vectors in points[:k]]


def _lean(params: SearchParams) -> SearchParams:
    """Rankings carry ids and scores only; the router fetches what the final page shows."""
    return dataclasses.replace(params, with_payload=False, with_vectors=False)


def _plain_dense(view: CollectionView, plan: QueryPlan) -> bool:
    return (
        plan.kind == "nearest" and isinstance(plan.nearest, np.ndarray)
        and not plan.prefetch and plan.filter is None and plan.lookup_from is None
        and plan.using in view.config.dense
    )


def _query_matrix(config: ShardConfig, name: str, vectors: list[np.ndarray]) -> np.ndarray:
    """The prepared queries of a batch as one matrix: stacked, cast and normalised at once;
    one at a time only to name a vector of the wrong size."""
    spec = config.dense[name]
    shape = (spec.size,)
    if any(v.shape != shape for v in vectors):
        for v in vectors:
            _check_vector(config, name, False, v, "query")
    return prepare_queries(spec, np.stack(vectors))


def _excluding(base, excluded: set[PointId]):
    """The plan's filter, also leaving out the examples' own points (a real filter, so it can
    travel to the peers holding other shards)."""
    return compile_filter(Filter(
        must=[base.source.as_condition()] if base is not None else [],
        must_not=[Condition(has_id=sorted(excluded, key=point_id_order))],
    ))


def _check_vector(config: ShardConfig, name: str, sparse: bool, value, where: str):
    if sparse:
        if not isinstance(value, SparseVector):
            raise BadRequest(f"{where}: `{name}` is a sparse vector; send indices and values")
        return value
    if isinstance(value, SparseVector):
        raise BadRequest(f"{where}: `{name or 'the unnamed vector'}` is a dense vector")
    if name in config.multi:
        return check_query_multivector(config.multi[name], value, where)
    if np.ndim(value) == 2:
        raise BadRequest(f"{where}: `{name or 'the unnamed vector'}` is not a multivector; "
                         "send a single vector")
    spec = config.dense[name]
    vector = np.asarray(value, dtype=np.float32)
    if vector.shape != (spec.size,):
        raise BadRequest(
            f"{where}: wrong vector dimension: expected {spec.size}, got {vector.size}"
        )
    return vector


def _spec_of(config: ShardConfig, query: VectorQuery):
    if query.sparse:
        return None
    name = query.vector_name
    return config.multi[name] if name in config.multi else config.dense[name]


def _average(positives: list, negatives: list, sparse: bool):
    if sparse:
        return _sparse_average(positives, negatives)
    mean_positive = np.mean(np.stack(positives), axis=0)
    if not negatives:
        return mean_positive
    return mean_positive + mean_positive - np.mean(np.stack(negatives), axis=0)


def _sparse_sum(vectors: list[SparseVector]) -> dict[int, float]:
    total: dict[int, float] = {}
    for v in vectors:
        for i, x in zip(v.indices.tolist(), v.values.tolist(), strict=True):
            total[i] = total.get(i, 0.0) + x
    return total


def _sparse_average(positives: list, negatives: list) -> SparseVector:
    pos = {i: x / len(positives) for i, x in _sparse_sum(positives).items()}
    neg = {i: x / len(negatives) for i, x in _sparse_sum(negatives).items()} if negatives else {}
    merged = {i: 2 * pos.get(i, 0.0) - neg.get(i, 0.0) for i in sorted({*pos, *neg})}
    if not negatives:
        merged = pos
    keys = sorted(merged)
    return SparseVector(
        np.asarray(keys, dtype=np.uint32), np.asarray([merged[i] for i in keys], np.float32)
    )


def _all_vectors(query: VectorQuery) -> list:
    return [query.nearest, query.target, *query.positives, *query.negatives,
            *[x for pair in query.pairs for x in pair]]


def _prepare_all(query: VectorQuery, prepare) -> None:
    if query.nearest is not None:
        query.nearest = prepare(query.nearest)
    if query.target is not None:
        query.target = prepare(query.target)
    query.positives = [prepare(v) for v in query.positives]
    query.negatives = [prepare(v) for v in query.negatives]
    query.pairs = [(prepare(p), prepare(n)) for p, n in query.pairs]


def _fuse(plan: QueryPlan, sources: list[list[Hit]], k: int) -> list[Hit]:
    scores: dict[PointId, float] = {}
    first: dict[PointId, Hit] = {}
    for i, source in enumerate(sources):
        if plan.fusion == "rrf":
            weight = 1.0 if plan.rrf_weights is None else plan.rrf_weights[i]
            contributions = _rrf_scores(len(source), plan.rrf_k or RRF_RANK_CONSTANT, weight)
        else:
            contributions = _dbsf_normalise([hit[0] for hit in source])
        for hit, value in zip(source, contributions, strict=True):
            first.setdefault(hit[1], hit)
            scores[hit[1]] = scores.get(hit[1], 0.0) + value
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:k]
    return [(score, pid, first[pid][2], first[pid][3]) for pid, score in ranked]


def _rrf_scores(count: int, k: int, weight: float) -> list[float]:
    """What ranks 0..count-1 of a source add: 1 / (rank + k), a source's weight stretching
    its ranks (rank + 1 counts as (rank + 1) / weight); a weight of 0 or less adds nothing."""
    if weight <= 0:
        return [0.0] * count
    return [1.0 / ((rank + 1.0) / weight + k - 1.0) for rank in range(count)]


def _dbsf_normalise(values: list[float]) -> list[float]:
    """Scores mapped by their mean +- 3 standard deviations onto [0, 1]."""
    if len(values) == 1:
        return [0.5]
    if not values:
        return []
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    if variance == 0:
        return [0.5] * len(values)
    std = variance**0.5
    low, high = mean - 3 * std, mean + 3 * std
    return [(v - low) / (high - low) for v in values]


async def idf_rescaler(view: CollectionView, vector_name: str, vectors: list[SparseVector]
                       ) -> Callable[[SparseVector], SparseVector]:
    """A function weighting a query vector's values by the IDF of each index, from every
    shard's point count and document frequencies of the indices `vectors` use."""
    indices = np.unique(np.concatenate([v.indices for v in vectors])) if vectors else []
    stats = await asyncio.gather(
        *(s.sparse_statistics(vector_name, np.asarray(indices)) for s in view.shards)
    )
    total = sum(n for n, _ in stats)
    df = sum((d for _, d in stats), np.zeros(len(indices), dtype=np.int64))
    idf = {
        int(i): math.log((total - f + 0.5) / (f + 0.5) + 1)
        for i, f in zip(indices, df, strict=True)
    }

    def rescale(v: SparseVector) -> SparseVector:
        weights = np.array([idf[int(i)] for i in v.indices], dtype=np.float32)
        return SparseVector(v.indices, (v.values * weights).astype(np.float32))

    return rescale
