"""The search side of the points API: `/points/query` (single, batch, groups) and the older
`/points/search` and `/points/recommend` endpoints, all executed as query plans."""

from __future__ import annotations

import asyncio
import uuid

from cluster.routing import strict_mode
from cluster.routing.collection_view import CollectionView, CollectionViews
from cluster.routing.query_executor import QueryExecutor
from cluster.routing.query_request import QueryPlan, plan_query, plan_recommend, plan_search
from cluster.routing.strict_mode import RateLimiter
from node.engine.ids import PointId
from node.engine.payload_path import values_at
from node.engine.records import record_json
from node.engine.shard_query import Hit
from node.model import queries as q
from node.model.selectors import payload_selector

# A request that shows points: what each hit carries besides id and score.
Shown = q.QueryRequest | q.SearchRequest | q.RecommendRequest


class QueryRouter:
    def __init__(self, views: CollectionViews, limiter: RateLimiter) -> None:
        self._views = views
        self._limiter = limiter
        self._executor = QueryExecutor(self._lookup, self._fetch, self._scan)

    async def _run(self, view: CollectionView, plan: QueryPlan) -> list[Hit]:
        """Strict mode's limits first, then the plan."""
        strict = strict_mode.active(view.meta.config)
        strict_mode.check_query(strict, plan, view.meta.payload_indexes)
        self._limiter.take(strict, view.meta.name, "read")
        return await self._executor.run(view, plan)

    async def _complete(self, view: CollectionView, hits: list[Hit], request: Shown,
                        payload: bool = False) -> list[Hit]:
        """Give the hits of a final page the payloads and vectors the request shows."""
        want_payload = payload or request.with_payload not in (None, False)
        want_vectors = request.vectors() not in (None, False)
        if not hits or not (want_payload or want_vectors):
            return hits
        found = await self._fetch(view, [hit[1] for hit in hits])
        completed = []
        for score, pid, payload_, vectors in hits:
            stored = found.get(pid)
            if stored is not None:
                payload_ = stored[0] if want_payload else payload_
                vectors = stored[1] if want_vectors else vectors
            completed.append((score, pid, payload_, vectors))
        return completed

    # ---- what the executor asks of the collections -----------------------------------------

    async def _lookup(self, name: str) -> CollectionView:
        return self._views.named(name)

    async def _fetch(self, view: CollectionView, ids: list[PointId]) -> dict[PointId, tuple]:
        found: dict[PointId, tuple] = {}
        results = await asyncio.gather(*(s.retrieve(ids) for s in view.shards))
        for records in results:
            for pid, payload, vectors in records:
                found[pid] = (payload, vectors)
        return found

    async def _scan(self, view: CollectionView, point_filter, restrict) -> list:
        parts = await asyncio.gather(
            *(s.scan(point_filter, restrict) for s in view.shards)
        )
        return [p for part in parts for p in part]

    # ---- endpoints --------------------------------------------------------------------------

    async def query(self, name: str, body: q.QueryRequest) -> dict:
        view = self._views.named(name, body.shard_key)
        plan = plan_query(body)
        hits = await self._complete(view, await self._run(view, plan), body)
        return {"points": self._format(view, plan, hits, body)}

    async def query_batch(self, name: str, body: q.QueryBatchRequest) -> list[dict]:
        searches = body.searches
        selectors = {repr(s.shard_key) for s in searches}
        if len(selectors) > 1:  # searches in different shard keys: one by one
            return [await self.query(name, s) for s in searches]
        view = self._views.named(name, searches[0].shard_key if searches else None)
        plans = [plan_query(s) for s in searches]
        strict = strict_mode.active(view.meta.config)
        for plan in plans:
            strict_mode.check_query(strict, plan, view.meta.payload_indexes)
        self._limiter.take(strict, view.meta.name, "read", cost=len(plans))
        results = [await self._complete(view, hits, search) for hits, search in
                   zip(await self._executor.run_batch(view, plans), searches, strict=True)]
        return [{"points": self._format(view, plan, hits, search)}
                for plan, hits, search in zip(plans, results, searches, strict=True)]

    async def search(self, name: str, body: q.SearchRequest) -> list[dict]:
        view = self._views.named(name, body.shard_key)
        plan = plan_search(body)
        hits = await self._complete(view, await self._run(view, plan), body)
        return self._format(view, plan, hits, body)

    async def search_batch(self, name: str, body: q.SearchBatchRequest) -> list[list[dict]]:
        return list(await asyncio.gather(*(self.search(name, s) for s in body.searches)))

    async def recommend(self, name: str, body: q.RecommendRequest) -> list[dict]:
        view = self._views.named(name, body.shard_key)
        plan = plan_recommend(body)
        hits = await self._complete(view, await self._run(view, plan), body)
        return self._format(view, plan, hits, body)

    async def recommend_batch(self, name: str, body: q.RecommendBatchRequest
                              ) -> list[list[dict]]:
        return list(await asyncio.gather(*(self.recommend(name, s) for s in body.searches)))

    async def query_groups(self, name: str, body: q.QueryGroupsRequest) -> dict:
        """Hits grouped by the value of a payload key, best groups first."""
        group_by, group_size = body.group_by, body.group_size
        view = self._views.named(name, body.shard_key)
        plan = plan_query(body)
        groups_wanted = plan.limit
        total = sum(await asyncio.gather(*(s.count() for s in view.shards)))
        plan.limit, plan.offset = max(total, 1), 0
        strict_mode.check_limit(strict_mode.active(view.meta.config), groups_wanted)
        _widen_prefetch(plan.prefetch, max(total, 1))
        hits = await self._complete(view, await self._run(view, plan), body, payload=True)
        groups: dict[object, list[Hit]] = {}
        for hit in hits:
            values = values_at(hit[2] or {}, group_by)
            for value in dict.fromkeys(v for v in values
                                       if isinstance(v, (str, int)) and not isinstance(v, bool)):
                members = groups.setdefault(value, [])
                if len(members) < group_size:
                    members.append(hit)
        chosen = list(groups.items())[:groups_wanted]
        result = []
        lookup = await self._group_lookups(body.with_lookup, [g for g, _ in chosen])
        for value, members in chosen:
            group = {"id": value, "hits": self._format(view, plan, members, body)}
            if lookup is not None:
                group["lookup"] = lookup.get(value)
            result.append(group)
        return {"groups": result}

    async def _group_lookups(self, raw: str | q.WithLookup | None, ids: list) -> dict | None:
        if raw is None:
            return None
        spec = q.WithLookup(collection=raw) if isinstance(raw, str) else raw
        view = self._views.named(spec.collection)
        point_ids = [i for i in ids if isinstance(i, int) or _is_uuid(i)]
        found = await self._fetch(view, point_ids)
        with_payload = payload_selector(True if spec.with_payload is None else spec.with_payload)
        vectors = spec.with_vectors if spec.with_vectors is not None else spec.with_vector
        with_vector = vectors or False
        return {
            pid: record_json(pid, *found[pid], with_payload=with_payload,
                             with_vector=with_vector, unnamed=view.unnamed_vector)
            for pid in point_ids if pid in found
        }

    # ---- output -----------------------------------------------------------------------------

    def _format(self, view: CollectionView, plan: QueryPlan, hits: list[Hit],
                request: Shown) -> list[dict]:
        with_payload = payload_selector(request.with_payload)
        with_vector = request.vectors()
        if plan.kind != "order_by" and with_payload in (False, None) and with_vector in (
                False, None):  # ids and scores only: the common case, built directly
            return [{"id": pid, "version": 0, "score": score, "payload": None, "vector": None}
                    for score, pid, _, _ in hits]
        out = []
        for score, pid, payload, vectors in hits:
            record = record_json(pid, payload, vectors, with_payload=with_payload,
                                 with_vector=with_vector, unnamed=view.unnamed_vector)
            point = {"id": pid, "version": 0, "score": score, **record}
            if plan.kind == "order_by":
                # Every hit scores 1.0, its order value aside (as in qdrant-client 1.16+).
                point["score"], point["order_value"] = 1.0, score
            out.append(point)
        return out


def _widen_prefetch(prefetches: list[QueryPlan], limit: int) -> None:
    for prefetch in prefetches:
        prefetch.limit = limit
        _widen_prefetch(prefetch.prefetch, limit)


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
