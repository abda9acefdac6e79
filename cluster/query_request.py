"""Reading Qdrant's query requests (`/points/query` and the older search and recommend
endpoints) into one plan: what to score, on which vector, within which filter, how many."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cluster.formula_request import parse_formula_query
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.formula import Expression
from node.engine.ids import PointId, normalize_point_id
from node.engine.multivector import parse_query_multivector
from node.engine.point_batch import SparseVector, parse_sparse
from node.engine.search import SearchParams
from node.errors import BadRequest

MAX_MMR_CANDIDATES = 16384  # Qdrant's bound on `mmr.candidates_limit`

# An example or query input before lookup: a dense vector, a sparse vector, or a point id.
VectorInput = np.ndarray | SparseVector | PointId


@dataclass
class QueryPlan:
    # nearest, recommend, discover, context, fusion, formula, order_by, sample, or None
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


def read_int(body: dict, key: str, default: int | None, minimum: int = 0) -> int:
    value = body.get(key)
    if value is None:
        if default is None:
            raise BadRequest(f"{key}: required")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def read_params(raw: object, where: str = "params") -> SearchParams:
    if raw is None:
        return SearchParams()
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected an object")
    ef = raw.get("hnsw_ef")
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or ef < 0):
        raise BadRequest(f"{where}.hnsw_ef: expected a non-negative integer, got {ef!r}")
    for flag in ("exact", "indexed_only"):
        if raw.get(flag) is not None and not isinstance(raw.get(flag), bool):
            raise BadRequest(f"{where}.{flag}: expected true or false")
    quantization = raw.get("quantization")
    if quantization is not None and not isinstance(quantization, dict):
        raise BadRequest(f"{where}.quantization: expected an object")
    return SearchParams(
        hnsw_ef=ef, exact=bool(raw.get("exact")), indexed_only=bool(raw.get("indexed_only")),
        quantization=quantization or None,
    )


def read_threshold(body: dict) -> float | None:
    value = body.get("score_threshold")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"score_threshold: expected a number, got {value!r}")
    return float(value)


def read_vector_input(raw: object, where: str) -> VectorInput:
    """A dense vector, a multivector (a 2-d array), a sparse vector, or a point id."""
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        return normalize_point_id(raw)
    if isinstance(raw, list):
        if raw and isinstance(raw[0], list):
            return parse_query_multivector(raw, where)
        if not set(map(type, raw)) <= {float, int}:  # bool, a subclass of int, is refused
            raise BadRequest(f"{where}: expected a vector of numbers")
        vector = np.asarray(raw, dtype=np.float64)
        if not np.isfinite(vector).all():
            raise BadRequest(f"{where}: vector values must be finite (no NaN or infinity)")
        return vector
    if isinstance(raw, dict) and "indices" in raw:
        return parse_sparse(raw, where)
    if isinstance(raw, dict) and ({"text", "image", "object"} & set(raw)):
        raise BadRequest(f"{where}: inference of documents, images or objects is not supported")
    raise BadRequest(f"{where}: expected a vector, a sparse vector or a point id")


def _read_pairs(raw: object, where: str) -> list[tuple[VectorInput, VectorInput]]:
    items = raw if isinstance(raw, list) else [raw]
    pairs = []
    for i, pair in enumerate(items):
        if not isinstance(pair, dict) or "positive" not in pair or "negative" not in pair:
            raise BadRequest(f"{where}[{i}]: expected an object with `positive` and `negative`")
        pairs.append((
            read_vector_input(pair["positive"], f"{where}[{i}].positive"),
            read_vector_input(pair["negative"], f"{where}[{i}].negative"),
        ))
    return pairs


def _read_examples(raw: object, where: str) -> list[VectorInput]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest(f"{where}: expected an array of point ids or vectors")
    return [read_vector_input(x, f"{where}[{i}]") for i, x in enumerate(raw)]


def _read_strategy(raw: object, where: str) -> str:
    strategy = raw or "average_vector"
    if strategy not in ("average_vector", "best_score", "sum_scores"):
        raise BadRequest(
            f"{where}: unknown strategy {strategy!r}, expected average_vector, best_score "
            "or sum_scores"
        )
    return strategy


def _read_query(plan: QueryPlan, raw: object) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or "indices" in raw:
        plan.kind, plan.nearest = "nearest", read_vector_input(raw, "query")
        return
    if "nearest" in raw and "mmr" in raw and len(raw) == 2:
        plan.kind, plan.nearest = "nearest", read_vector_input(raw["nearest"], "query.nearest")
        plan.mmr = _read_mmr(raw["mmr"])
        return
    if "formula" in raw:  # the one query object with two fields: formula and defaults
        plan.kind = "formula"
        plan.formula, plan.formula_defaults = parse_formula_query(raw)
        return
    if len(raw) != 1:
        raise BadRequest("query: expected exactly one of nearest, recommend, discover, "
                         "context, order_by, fusion, rrf, formula, sample")
    ((key, value),) = raw.items()
    if key == "nearest":
        plan.kind, plan.nearest = "nearest", read_vector_input(value, "query.nearest")
    elif key == "recommend":
        if not isinstance(value, dict):
            raise BadRequest("query.recommend: expected an object")
        plan.kind = "recommend"
        plan.positives = _read_examples(value.get("positive"), "query.recommend.positive")
        plan.negatives = _read_examples(value.get("negative"), "query.recommend.negative")
        plan.strategy = _read_strategy(value.get("strategy"), "query.recommend.strategy")
        _check_examples(plan, "query.recommend")
    elif key == "discover":
        if not isinstance(value, dict) or "target" not in value:
            raise BadRequest("query.discover: expected an object with `target` and `context`")
        plan.kind = "discover"
        plan.target = read_vector_input(value["target"], "query.discover.target")
        plan.pairs = _read_pairs(value.get("context") or [], "query.discover.context")
    elif key == "context":
        plan.kind, plan.pairs = "context", _read_pairs(value, "query.context")
        if not plan.pairs:  # nothing to score by, as qdrant-client's reference mode says too
            raise BadRequest("query.context: at least one pair of positive and negative "
                             "examples is needed")
    elif key == "fusion":
        if value not in ("rrf", "dbsf"):
            raise BadRequest(f"query.fusion: unknown fusion {value!r}, expected rrf or dbsf")
        plan.kind, plan.fusion = "fusion", value
    elif key == "relevance_feedback":
        _read_feedback(plan, value)
    elif key == "rrf":
        plan.kind, plan.fusion = "fusion", "rrf"
        plan.rrf_k, plan.rrf_weights = _read_rrf(value)
    elif key == "order_by":
        plan.kind, plan.order_by = "order_by", read_order_by(value, "query.order_by")
    elif key == "sample":
        if value != "random":
            raise BadRequest(f"query.sample: unknown sample {value!r}, expected random")
        plan.kind = "sample"
    else:
        raise BadRequest(f"query: unknown query kind `{key}`")


def _read_feedback(plan: QueryPlan, raw: object) -> None:
    where = "query.relevance_feedback"
    if not isinstance(raw, dict) or set(raw) - {"target", "feedback", "strategy"}:
        raise BadRequest(f"{where}: expected an object with `target`, `feedback` and "
                         "`strategy`")
    for key in ("target", "feedback", "strategy"):
        if raw.get(key) is None:
            raise BadRequest(f"{where}.{key}: is required")
    plan.kind = "relevance_feedback"
    plan.target = read_vector_input(raw["target"], f"{where}.target")
    if not isinstance(raw["feedback"], list):
        raise BadRequest(f"{where}.feedback: expected an array of {{example, score}}")
    for i, item in enumerate(raw["feedback"]):
        label = f"{where}.feedback[{i}]"
        if not isinstance(item, dict) or set(item) != {"example", "score"}:
            raise BadRequest(f"{label}: expected an object with `example` and `score`")
        plan.feedback.append((read_vector_input(item["example"], f"{label}.example"),
                              _finite_number(item["score"], f"{label}.score")))
    strategy = raw["strategy"]
    if not isinstance(strategy, dict) or set(strategy) != {"naive"} or not isinstance(
            strategy["naive"], dict) or set(strategy["naive"]) != {"a", "b", "c"}:
        raise BadRequest(f"{where}.strategy: expected {{\"naive\": {{\"a\", \"b\", \"c\"}}}}")
    a, b, c = (_finite_number(strategy["naive"][k], f"{where}.strategy.naive.{k}")
               for k in ("a", "b", "c"))
    if b < 0:
        raise BadRequest(f"{where}.strategy.naive.b: must be >= 0, got {b}")
    plan.naive = (a, b, c)


def _finite_number(raw: object, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise BadRequest(f"{where}: expected a number, got {raw!r}")
    return float(raw)


def _read_mmr(raw: object) -> tuple[float, int | None] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"diversity", "candidates_limit"}:
        raise BadRequest("query.mmr: expected an object with `diversity` and/or "
                         "`candidates_limit`")
    diversity, candidates = raw.get("diversity"), raw.get("candidates_limit")
    if diversity is None:
        diversity = 0.5
    if isinstance(diversity, bool) or not isinstance(diversity, int | float) or not (
            0 <= diversity <= 1):
        raise BadRequest(f"query.mmr.diversity: expected a number within [0, 1], got "
                         f"{diversity!r}")
    if candidates is not None and (isinstance(candidates, bool) or not isinstance(
            candidates, int) or not 0 <= candidates <= MAX_MMR_CANDIDATES):
        raise BadRequest(f"query.mmr.candidates_limit: expected an integer within "
                         f"[0, {MAX_MMR_CANDIDATES}], got {candidates!r}")
    return float(diversity), candidates


def _read_rrf(raw: object) -> tuple[int | None, list[float] | None]:
    if not isinstance(raw, dict) or set(raw) - {"k", "weights"}:
        raise BadRequest("query.rrf: expected an object with `k` and/or `weights`")
    k, weights = raw.get("k"), raw.get("weights")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise BadRequest(f"query.rrf.k: expected an integer >= 1, got {k!r}")
    if weights is not None:
        if not isinstance(weights, list) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w)
            for w in weights
        ):
            raise BadRequest("query.rrf.weights: expected an array of numbers")
        weights = [float(w) for w in weights]
    return k, weights


def _check_examples(plan: QueryPlan, where: str) -> None:
    if plan.strategy == "average_vector" and not plan.positives:
        raise BadRequest(f"{where}.positive: at least one positive example is needed")
    if not plan.positives and not plan.negatives:
        raise BadRequest(f"{where}: at least one positive or negative example is needed")


def read_order_by(raw: object, where: str) -> dict:
    if isinstance(raw, str):
        return {"key": raw, "direction": "asc", "start_from": None}
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        raise BadRequest(f"{where}: expected a payload key or an object with `key`")
    direction = raw.get("direction") or "asc"
    if direction not in ("asc", "desc"):
        raise BadRequest(f"{where}.direction: expected asc or desc")
    return {"key": raw["key"], "direction": direction, "start_from": raw.get("start_from")}


def _read_lookup(raw: object) -> tuple[str, str | None] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("collection"), str):
        raise BadRequest("lookup_from: expected an object with `collection`")
    vector = raw.get("vector")
    if vector is not None and not isinstance(vector, str):
        raise BadRequest("lookup_from.vector: expected a vector name")
    return raw["collection"], vector


def _read_using(body: dict) -> str:
    """The `using` vector name ("" for the unnamed vector)."""
    using = body.get("using") or ""
    if not isinstance(using, str):
        raise BadRequest("using: expected a vector name")
    return using


def parse_query_plan(body: object, *, top_level: bool = True) -> QueryPlan:
    """A QueryRequest body (or one of its prefetches) as a plan."""
    if not isinstance(body, dict):
        raise BadRequest("the query must be a JSON object")
    using = _read_using(body)
    plan = QueryPlan(
        kind=None,
        using=using,
        filter=compile_filter(body.get("filter")),
        params=read_params(body.get("params")),
        score_threshold=read_threshold(body),
        limit=read_int(body, "limit", 10),
        offset=read_int(body, "offset", 0) if top_level else 0,
        lookup_from=_read_lookup(body.get("lookup_from")),
    )
    _read_query(plan, body.get("query"))
    raw_prefetch = body.get("prefetch")
    if raw_prefetch is not None:
        items = raw_prefetch if isinstance(raw_prefetch, list) else [raw_prefetch]
        plan.prefetch = [parse_query_plan(p, top_level=False) for p in items]
    if plan.kind == "fusion" and not plan.prefetch:
        raise BadRequest("query.fusion: fusion needs `prefetch` sources to fuse")
    if plan.kind == "formula" and not plan.prefetch:
        raise BadRequest("query.formula: a formula rescores `prefetch` results; none given")
    if plan.rrf_weights is not None and len(plan.rrf_weights) != len(plan.prefetch):
        raise BadRequest(f"query.rrf.weights: {len(plan.rrf_weights)} weights given for "
                         f"{len(plan.prefetch)} prefetches; give one per prefetch")
    return plan


def parse_legacy_search(body: object) -> QueryPlan:
    """`POST /points/search`: `vector` is a list, a sparse or {"name", "vector"}."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    raw = body.get("vector")
    name = ""
    if isinstance(raw, dict) and "name" in raw:
        name = raw.get("name")
        if not isinstance(name, str):
            raise BadRequest("vector.name: expected the name of a vector")
        raw = raw.get("vector")
    if raw is None:
        raise BadRequest("vector: required")
    limit = body.get("limit", body.get("top"))
    return QueryPlan(
        kind="nearest",
        using=name,
        nearest=read_vector_input(raw, "vector"),
        filter=compile_filter(body.get("filter")),
        params=read_params(body.get("params")),
        score_threshold=read_threshold(body),
        limit=read_int({"limit": limit}, "limit", None),
        offset=read_int(body, "offset", 0),
        single_as_multi=True,
    )


def parse_legacy_recommend(body: object) -> QueryPlan:
    """`POST /points/recommend`: positive / negative examples, strategy, using, lookup_from."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    using = _read_using(body)
    plan = QueryPlan(
        kind="recommend",
        using=using,
        positives=_read_examples(body.get("positive"), "positive"),
        negatives=_read_examples(body.get("negative"), "negative"),
        strategy=_read_strategy(body.get("strategy"), "strategy"),
        filter=compile_filter(body.get("filter")),
        params=read_params(body.get("params")),
        score_threshold=read_threshold(body),
        limit=read_int(body, "limit", None),
        offset=read_int(body, "offset", 0),
        lookup_from=_read_lookup(body.get("lookup_from")),
    )
    _check_examples(plan, "recommend")
    return plan
