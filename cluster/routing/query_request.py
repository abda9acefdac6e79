"""Query requests (`/points/query` and the older search and recommend endpoints), decoded at
the edge into node/model types, turned into one plan: what to score, on which vector, within
which filter, how many. The checks here are those that span fields (a fusion needs prefetches),
the rest was done by the decode."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import numpy as np

from cluster.routing.formula_request import parse_expression
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.formula import Expression
from node.engine.ids import PointId, normalize_point_id
from node.engine.multivector import parse_query_multivector
from node.engine.point_batch import SparseVector
from node.engine.search import SearchParams
from node.errors import BadRequest
from node.model import queries as q
from node.model.vectors import SparseVectorIn
from node.model.vectors import VectorInput as VectorIn

# An example or query input before lookup: a dense vector, a sparse vector, or a point id.
VectorInput = np.ndarray | SparseVector | PointId


@dataclass
class QueryPlan:
    # nearest, recommend, discover, context, fusion, formula, relevance_feedback, order_by,
    # sample, or None
    kind: str | None
    using: str = ""
    nearest: VectorInput | None = None
    positives: list[VectorInput] = field(default_factory=list)
    negatives: list[VectorInput] = field(default_factory=list)
    strategy: str = "average_vector"
    target: VectorInput | None = None
    pairs: list[tuple[VectorInput, VectorInput]] = field(default_factory=list)
    feedback: list[tuple[VectorInput, float]] = field(default_factory=list)  # (example, score)
    naive: tuple[float, float, float] = (1.0, 1.0, 1.0)  # relevance feedback's a, b, c
    fusion: str | None = None
    rrf_k: int | None = None  # None: Qdrant's default constant
    rrf_weights: list[float] | None = None  # one per prefetch; None: all equal
    mmr: tuple[float, int | None] | None = None  # (diversity, candidates_limit)
    formula: Expression | None = None
    formula_defaults: dict = field(default_factory=dict)
    order_by: dict | None = None
    filter: CompiledFilter | None = None
    params: SearchParams = field(default_factory=SearchParams)
    score_threshold: float | None = None
    limit: int = 10
    offset: int = 0
    prefetch: list[QueryPlan] = field(default_factory=list)
    lookup_from: tuple[str, str | None] | None = None
    # The older search API takes a single vector for a multivector as one sub-vector, as
    # Qdrant's does; the query API refuses it.
    single_as_multi: bool = False


def read_params(params: q.SearchParams | None) -> SearchParams:
    if params is None:
        return SearchParams()
    quantization = params.quantization
    return SearchParams(
        hnsw_ef=params.hnsw_ef, exact=bool(params.exact),
        indexed_only=bool(params.indexed_only),
        quantization=msgspec.to_builtins(quantization) if quantization is not None else None,
    )


def sparse_vector(raw: SparseVectorIn) -> SparseVector:
    """Sorted by index, as the engine keeps sparse vectors."""
    indices = np.asarray(raw.indices, dtype=np.uint32)
    order = np.argsort(indices, kind="stable")
    values = np.asarray(raw.values, dtype=np.float32)
    return SparseVector(indices=indices[order], values=values[order])


def dense_vector(raw: list[float], where: str) -> np.ndarray:
    try:
        vector = np.asarray(raw, dtype=np.float64)
    except ValueError:  # numbers mixed with lists: numpy refuses the ragged shape
        raise BadRequest(f"{where}: expected a vector of numbers or an array of vectors"
                         ) from None
    if not np.isfinite(vector).all():  # only a non-JSON face can carry NaN
        raise BadRequest(f"{where}: vector values must be finite (no NaN or infinity)")
    return vector


def vector_input(raw: VectorIn, where: str) -> VectorInput:
    """A dense vector, a multivector (a 2-d array), a sparse vector, or a point id."""
    if isinstance(raw, list):
        if raw and isinstance(raw[0], list):
            return parse_query_multivector(raw, where)
        return dense_vector(raw, where)
    if isinstance(raw, SparseVectorIn):
        return sparse_vector(raw)
    try:
        return normalize_point_id(raw)
    except BadRequest as exc:
        raise BadRequest(f"{where}: {exc}") from None


def _examples(raw: list[VectorIn] | None, where: str) -> list[VectorInput]:
    return [vector_input(x, f"{where}[{i}]") for i, x in enumerate(raw or ())]


def _pairs(raw: list[q.ContextPair] | q.ContextPair | None,
           where: str) -> list[tuple[VectorInput, VectorInput]]:
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    return [(vector_input(p.positive, f"{where}[{i}].positive"),
             vector_input(p.negative, f"{where}[{i}].negative")) for i, p in enumerate(items)]


def _read_query(plan: QueryPlan, raw: q.Query | None) -> None:
    if raw is None:
        return
    if not isinstance(raw, q.QueryInput):
        plan.kind, plan.nearest = "nearest", vector_input(raw, "query")
        return
    kind = raw.kind()
    if kind == "sparse":
        plan.kind = "nearest"
        plan.nearest = sparse_vector(SparseVectorIn(raw.indices or [], raw.values or []))
    elif kind == "nearest":
        plan.kind, plan.nearest = "nearest", vector_input(raw.nearest, "query.nearest")
        if raw.mmr is not None:
            diversity = 0.5 if raw.mmr.diversity is None else raw.mmr.diversity
            plan.mmr = (diversity, raw.mmr.candidates_limit)
    elif kind == "recommend":
        rec = raw.recommend
        plan.kind = "recommend"
        plan.positives = _examples(rec.positive, "query.recommend.positive")
        plan.negatives = _examples(rec.negative, "query.recommend.negative")
        plan.strategy = rec.strategy or "average_vector"
        _check_examples(plan, "query.recommend")
    elif kind == "discover":
        plan.kind = "discover"
        plan.target = vector_input(raw.discover.target, "query.discover.target")
        plan.pairs = _pairs(raw.discover.context, "query.discover.context")
    elif kind == "context":
        plan.kind, plan.pairs = "context", _pairs(raw.context, "query.context")
        if not plan.pairs:  # nothing to score by, as qdrant-client's reference mode says too
            raise BadRequest("query.context: at least one pair of positive and negative "
                             "examples is needed")
    elif kind == "fusion":
        plan.kind, plan.fusion = "fusion", raw.fusion
    elif kind == "rrf":
        plan.kind, plan.fusion = "fusion", "rrf"
        plan.rrf_k, plan.rrf_weights = raw.rrf.k, raw.rrf.weights
    elif kind == "formula":
        plan.kind = "formula"
        plan.formula = parse_expression(raw.formula, "query.formula")
        plan.formula_defaults = raw.defaults or {}
    elif kind == "relevance_feedback":
        feedback = raw.relevance_feedback
        where = "query.relevance_feedback"
        plan.kind = "relevance_feedback"
        plan.target = vector_input(feedback.target, f"{where}.target")
        plan.feedback = [(vector_input(item.example, f"{where}.feedback[{i}].example"),
                          item.score) for i, item in enumerate(feedback.feedback)]
        naive = feedback.strategy.naive
        plan.naive = (naive.a, naive.b, naive.c)
    elif kind == "order_by":
        plan.kind, plan.order_by = "order_by", order_by(raw.order_by)
    else:
        plan.kind = "sample"


def _check_examples(plan: QueryPlan, where: str) -> None:
    if plan.strategy == "average_vector" and not plan.positives:
        raise BadRequest(f"{where}.positive: at least one positive example is needed")
    if not plan.positives and not plan.negatives:
        raise BadRequest(f"{where}: at least one positive or negative example is needed")


def order_by(raw: str | q.OrderBy) -> dict:
    """The executor's order-by: key, direction, start_from."""
    if isinstance(raw, str):
        return {"key": raw, "direction": "asc", "start_from": None}
    return {"key": raw.key, "direction": raw.direction or "asc", "start_from": raw.start_from}


def _lookup(raw: q.LookupLocation | None) -> tuple[str, str | None] | None:
    return None if raw is None else (raw.collection, raw.vector)


def plan_query(request: q.Prefetch, *, top_level: bool = True) -> QueryPlan:
    """A QueryRequest (or one of its prefetches) as a plan."""
    plan = QueryPlan(
        kind=None,
        using=request.using or "",
        filter=compile_filter(request.filter),
        params=read_params(request.params),
        score_threshold=request.score_threshold,
        limit=10 if request.limit is None else request.limit,
        offset=(getattr(request, "offset", None) or 0) if top_level else 0,
        lookup_from=_lookup(request.lookup_from),
    )
    _read_query(plan, request.query)
    plan.prefetch = [plan_query(p, top_level=False) for p in request.prefetches()]
    if plan.kind == "fusion" and not plan.prefetch:
        raise BadRequest("query.fusion: fusion needs `prefetch` sources to fuse")
    if plan.kind == "formula" and not plan.prefetch:
        raise BadRequest("query.formula: a formula rescores `prefetch` results; none given")
    if plan.rrf_weights is not None and len(plan.rrf_weights) != len(plan.prefetch):
        raise BadRequest(f"query.rrf.weights: {len(plan.rrf_weights)} weights given for "
                         f"{len(plan.prefetch)} prefetches; give one per prefetch")
    return plan


def plan_search(request: q.SearchRequest) -> QueryPlan:
    """`POST /points/search`: `vector` is a list, a sparse vector or {"name", "vector"}."""
    raw, name = request.vector, ""
    if isinstance(raw, q.NamedVector):
        if raw.indices is not None:
            nearest = sparse_vector(SparseVectorIn(raw.indices, raw.values or []))
        else:
            name = raw.name or ""
            nearest = vector_input(raw.vector, "vector.vector")
    else:
        nearest = vector_input(raw, "vector")
    return QueryPlan(
        kind="nearest",
        using=name,
        nearest=nearest,
        filter=compile_filter(request.filter),
        params=read_params(request.params),
        score_threshold=request.score_threshold,
        limit=request.limit if request.limit is not None else request.top,
        offset=request.offset or 0,
        single_as_multi=True,
    )


def plan_recommend(request: q.RecommendRequest) -> QueryPlan:
    """`POST /points/recommend`: positive / negative examples, strategy, using, lookup_from."""
    plan = QueryPlan(
        kind="recommend",
        using=request.using or "",
        positives=_examples(request.positive, "positive"),
        negatives=_examples(request.negative, "negative"),
        strategy=request.strategy or "average_vector",
        filter=compile_filter(request.filter),
        params=read_params(request.params),
        score_threshold=request.score_threshold,
        limit=request.limit,
        offset=request.offset or 0,
        lookup_from=_lookup(request.lookup_from),
    )
    _check_examples(plan, "recommend")
    return plan
