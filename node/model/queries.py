"""Search-side requests: `/points/query` (single, batch, groups), the older `/points/search`
and `/points/recommend` (and their batches), `/points/scroll` and `/points/count`.

Requests stay open to fields they do not name (clients add some), while the parts they name are
checked in full; filters and query kinds refuse unknown fields. `shard_key` picks the keys of a
custom-sharded collection a read looks in (none: all of them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from node.engine.datetimes import parse_datetime
from node.model.decode import invalid
from node.model.filters import Filter, normalized_id, normalized_ids
from node.model.formula import ExpressionIn, expression
from node.model.selectors import WithPayload, WithVector
from node.model.shard_keys import ShardKeySelector
from node.model.vectors import PointIdIn, SparseVectorIn, VectorInput, check_finite

NonNegative = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]
Strategy = Literal["average_vector", "best_score", "sum_scores"]
_STRICT = {"forbid_unknown_fields": True}
MAX_MMR_CANDIDATES = 16384  # Qdrant's bound on `mmr.candidates_limit`


class QuantizationSearchParams(msgspec.Struct, **_STRICT):
    ignore: bool | None = None
    rescore: bool | None = None
    oversampling: Annotated[float, Meta(ge=1)] | None = None


class SearchParams(msgspec.Struct, **_STRICT):
    hnsw_ef: NonNegative | None = None
    exact: bool | None = None
    indexed_only: bool | None = None
    quantization: QuantizationSearchParams | None = None
    acorn: dict | None = None  # clients 1.16+ may send it; its search has no counterpart here


class LookupLocation(msgspec.Struct):
    collection: str
    vector: str | None = None


class OrderBy(msgspec.Struct, **_STRICT):
    key: str
    direction: Literal["asc", "desc"] | None = None
    start_from: int | float | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.start_from, str) and parse_datetime(self.start_from) is None:
            raise invalid("start_from", "expected a number or an RFC 3339 datetime")


def check_examples(positive: list | None, negative: list | None, strategy: str | None) -> None:
    """A recommendation needs examples; the average of vectors needs a positive one."""
    if (strategy or "average_vector") == "average_vector" and not positive:
        raise invalid("positive", "at least one positive example is needed")
    if not positive and not negative:
        raise ValueError("at least one positive or negative example is needed")


class RecommendInput(msgspec.Struct, **_STRICT):
    positive: list[VectorInput] | None = None
    negative: list[VectorInput] | None = None
    strategy: Strategy | None = None

    def __post_init__(self) -> None:
        check_examples(self.positive, self.negative, self.strategy)


class ContextPair(msgspec.Struct, **_STRICT):
    positive: VectorInput
    negative: VectorInput


class DiscoverInput(msgspec.Struct, **_STRICT):
    target: VectorInput
    context: list[ContextPair] | ContextPair | None = None


class Mmr(msgspec.Struct, **_STRICT):
    """Maximal marginal relevance re-ranking of a nearest query."""

    diversity: Annotated[float, Meta(ge=0, le=1)] | None = None
    candidates_limit: Annotated[int, Meta(ge=0, le=MAX_MMR_CANDIDATES)] | None = None


class Rrf(msgspec.Struct, **_STRICT):
    k: Positive | None = None
    weights: list[float] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None:
            check_finite(self.weights, "weights")


class FeedbackItem(msgspec.Struct, **_STRICT):
    example: VectorInput
    score: float

    def __post_init__(self) -> None:
        check_finite([self.score], "score")


class NaiveFeedback(msgspec.Struct, **_STRICT):
    a: float
    b: Annotated[float, Meta(ge=0)]
    c: float

    def __post_init__(self) -> None:
        for name in ("a", "c"):
            check_finite([getattr(self, name)], name)


class FeedbackStrategy(msgspec.Struct, **_STRICT):
    naive: NaiveFeedback


class RelevanceFeedback(msgspec.Struct, **_STRICT):
    target: VectorInput
    feedback: list[FeedbackItem]
    strategy: FeedbackStrategy


_QUERY_KINDS = ("nearest", "recommend", "discover", "context", "order_by", "fusion", "rrf",
                "formula", "relevance_feedback", "sample")


class QueryInput(msgspec.Struct, **_STRICT):
    """The object forms of `query`: one of the kinds, or a sparse vector given directly."""

    nearest: VectorInput | None = None
    recommend: RecommendInput | None = None
    discover: DiscoverInput | None = None
    context: list[ContextPair] | ContextPair | None = None
    order_by: str | OrderBy | None = None
    fusion: Literal["rrf", "dbsf"] | None = None
    rrf: Rrf | None = None
    formula: ExpressionIn | None = None  # read into a typed tree by __post_init__
    defaults: dict[str, Any] | None = None
    relevance_feedback: RelevanceFeedback | None = None
    sample: Literal["random"] | None = None
    mmr: Mmr | None = None  # beside `nearest` only
    indices: list[int] | None = None
    values: list[float] | None = None
    # Inference inputs: named so that they are refused with a clear reason.
    text: Any = None
    image: Any = None
    object: Any = None

    def __post_init__(self) -> None:
        if self.text is not None or self.image is not None or self.object is not None:
            raise ValueError("inference of documents, images or objects is not supported")
        if self.indices is not None or self.values is not None:
            if any(getattr(self, k) is not None for k in _QUERY_KINDS):
                raise ValueError("a sparse vector has only `indices` and `values`")
            SparseVectorIn(self.indices or [], self.values or [])  # checked as one
            return
        given = [k for k in _QUERY_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of {', '.join(_QUERY_KINDS)}")
        if self.mmr is not None and given != ["nearest"]:
            raise invalid("mmr", "goes only beside `nearest`")
        if self.defaults is not None and given != ["formula"]:
            raise invalid("defaults", "goes only beside `formula`")
        if self.formula is not None:
            self.formula = expression(self.formula, "formula")
        if self.context == []:  # nothing to score by, as qdrant-client's local mode says too
            raise invalid("context", "at least one pair of positive and negative examples is "
                          "needed")

    def kind(self) -> str:
        if self.indices is not None:
            return "sparse"
        return next(k for k in _QUERY_KINDS if getattr(self, k) is not None)


# A dense vector or multivector (one array type, see node/model/vectors.py), a point id, or
# one of the query kinds.
Query = list[float | list[float]] | PointIdIn | QueryInput


class Prefetch(msgspec.Struct):
    prefetch: list[Prefetch] | Prefetch | None = None
    query: Query | None = None
    using: str | None = None
    filter: Filter | None = None
    params: SearchParams | None = None
    score_threshold: float | None = None
    limit: NonNegative | None = None
    lookup_from: LookupLocation | None = None

    def __post_init__(self) -> None:
        kind = self.query.kind() if isinstance(self.query, QueryInput) else None
        count = len(self.prefetches())
        if kind in ("fusion", "rrf") and not count:
            raise invalid(f"query.{kind}", "fusion needs `prefetch` sources to fuse")
        if kind == "formula" and not count:
            raise invalid("query.formula", "a formula rescores `prefetch` results; none given")
        weights = self.query.rrf.weights if kind == "rrf" else None
        if weights is not None and len(weights) != count:
            raise invalid("query.rrf.weights", f"{len(weights)} weights given for {count} "
                          "prefetches; give one per prefetch")

    def prefetches(self) -> list[Prefetch]:
        if self.prefetch is None:
            return []
        return self.prefetch if isinstance(self.prefetch, list) else [self.prefetch]


class QueryRequest(Prefetch):
    offset: NonNegative | None = None
    with_payload: WithPayload | None = None
    with_vector: WithVector | None = None
    with_vectors: WithVector | None = None  # an older spelling some clients send
    shard_key: ShardKeySelector | None = None

    def vectors(self) -> WithVector | None:
        return self.with_vector if self.with_vector is not None else self.with_vectors


class QueryBatchRequest(msgspec.Struct):
    searches: list[QueryRequest]


class WithLookup(msgspec.Struct):
    collection: str
    with_payload: WithPayload | None = None
    with_vectors: WithVector | None = None
    with_vector: WithVector | None = None


class QueryGroupsRequest(QueryRequest):
    group_by: str = ""
    group_size: Positive = 3
    with_lookup: str | WithLookup | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.group_by:
            raise invalid("group_by", "expected a payload key")


class NamedVector(msgspec.Struct, **_STRICT):
    """`vector` of a legacy search as an object: {name, vector} or a sparse vector."""

    name: str | None = None
    vector: list[float | list[float]] | SparseVectorIn | None = None
    indices: list[int] | None = None
    values: list[float] | None = None

    def __post_init__(self) -> None:
        if self.indices is not None or self.values is not None:
            if self.name is not None or self.vector is not None:
                raise ValueError("expected {name, vector} or a sparse vector, not both")
            SparseVectorIn(self.indices or [], self.values or [])
        elif self.vector is None:
            raise invalid("vector", "required")


class SearchRequest(msgspec.Struct):
    vector: list[float | list[float]] | NamedVector
    filter: Filter | None = None
    params: SearchParams | None = None
    score_threshold: float | None = None
    limit: NonNegative | None = None
    top: NonNegative | None = None  # the older name of limit
    offset: NonNegative | None = None
    with_payload: WithPayload | None = None
    with_vector: WithVector | None = None
    with_vectors: WithVector | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        if self.limit is None and self.top is None:
            raise invalid("limit", "required")

    def vectors(self) -> WithVector | None:
        return self.with_vector if self.with_vector is not None else self.with_vectors


class SearchBatchRequest(msgspec.Struct):
    searches: list[SearchRequest]


class RecommendRequest(msgspec.Struct):
    limit: NonNegative
    positive: list[VectorInput] | None = None
    negative: list[VectorInput] | None = None
    strategy: Strategy | None = None
    using: str | None = None
    lookup_from: LookupLocation | None = None
    filter: Filter | None = None
    params: SearchParams | None = None
    score_threshold: float | None = None
    offset: NonNegative | None = None
    with_payload: WithPayload | None = None
    with_vector: WithVector | None = None
    with_vectors: WithVector | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        check_examples(self.positive, self.negative, self.strategy)

    def vectors(self) -> WithVector | None:
        return self.with_vector if self.with_vector is not None else self.with_vectors


class RecommendBatchRequest(msgspec.Struct):
    searches: list[RecommendRequest]


class RetrieveRequest(msgspec.Struct):
    ids: list[PointIdIn]
    with_payload: WithPayload | None = None
    with_vector: WithVector | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        self.ids = normalized_ids(self.ids, "ids")


class ScrollRequest(msgspec.Struct):
    filter: Filter | None = None
    limit: Positive | None = None
    offset: PointIdIn | None = None
    with_payload: WithPayload | None = None
    with_vector: WithVector | None = None
    order_by: str | OrderBy | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        if self.offset is not None:
            self.offset = normalized_id(self.offset, "offset")


class CountRequest(msgspec.Struct):
    filter: Filter | None = None
    exact: bool | None = None
    shard_key: ShardKeySelector | None = None

