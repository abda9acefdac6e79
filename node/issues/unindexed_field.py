"""UNINDEXED_FIELD: a slow read filtered on a payload field that has no index.

When a filtered read takes longer than SLOW_READ_SECONDS, every field its filters test without
an index is a suspect: each becomes an issue naming the collection and the field, with the
index request that would help as its solution (one choice per index type that fits the
condition; several when the condition fits more than one, as a range of whole numbers fits an
integer and a float index). The issue is solved when that index exists or the collection goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote

from node.issues.board import IssueBoard
from node.model.filters import Condition, Filter

PREFIX = "UNINDEXED_FIELD"
# Qdrant's default threshold for a slow search, above which it looks for missing indexes.
SLOW_READ_SECONDS = 1.2


def issue_id(collection: str, field: str) -> str:
    return f"{PREFIX}:{collection}:{field}"


def filters_of(request: object) -> list[Filter]:
    """Every filter a decoded read request applies: its own, its prefetches' and, for a
    batch, each search's."""
    found: list[Filter] = []
    pending = [request]
    while pending:
        item = pending.pop()
        flt = getattr(item, "filter", None)
        if isinstance(flt, Filter):
            found.append(flt)
        for key in ("prefetch", "searches"):
            nested = getattr(item, key, None)
            if nested is not None:
                pending.extend(nested if isinstance(nested, list) else [nested])
    return found


def suspects(filters: Iterable[Filter | None]) -> dict[str, list[str]]:
    """payload key -> the index types that would serve the conditions on it."""
    found: dict[str, list[str]] = {}
    for flt in filters:
        if flt is None:
            continue
        for key, types in _conditions(flt, ""):
            known = found.setdefault(key, [])
            known.extend(t for t in types if t not in known)
    return found


def _clauses(flt: Filter | Condition) -> Iterator[Condition]:
    for clause in (flt.must, flt.should, flt.must_not):
        yield from clause or ()
    if flt.min_should is not None:
        yield from flt.min_should.conditions


def _conditions(flt: Filter | Condition, prefix: str) -> Iterator[tuple[str, list[str]]]:
    for condition in _clauses(flt):
        kind = condition.kind()
        if kind == "filter":
            yield from _conditions(condition, prefix)
        elif kind == "nested":
            # A nested condition's keys are read relative to each element of its array.
            yield from _conditions(condition.nested.filter, f"{prefix}{condition.nested.key}[].")
        elif kind == "field":
            types = _index_types(condition)
            if types:
                yield f"{prefix}{condition.key}", types


def _index_types(condition: Condition) -> list[str]:
    """The payload index types that answer a field condition (none for the conditions an
    index does not speed up: values_count, is_empty, is_null)."""
    field_kind = condition.field_kind()
    if field_kind == "match":
        match = condition.match
        kind = match.kind()
        if kind in ("text", "text_any", "phrase"):
            return ["text"]
        if kind == "prefix":
            return ["keyword"]
        if kind == "value":
            value = match.value
            if isinstance(value, bool):
                return ["bool"]
            return ["integer"] if isinstance(value, int) else ["keyword"]
        options = match.any if kind == "any" else match.except_
        return ["integer"] if options and isinstance(options[0], int) else ["keyword"]
    if field_kind == "range":
        rng = condition.range
        if rng.is_datetime():
            return ["datetime"]
        whole = all(isinstance(v, int) for v in rng.bounds().values())
        return ["integer", "float"] if whole else ["float"]
    if field_kind.startswith("geo_"):
        return ["geo"]
    return []


def _solution(collection: str, field: str, types: list[str]) -> dict:
    def action(schema: str) -> dict:
        return {
            "message": f"Create a {schema} index on `{field}` of `{collection}`",
            "action": {"method": "PUT", "uri": f"/collections/{quote(collection)}/index",
                       "headers": {}, "body": {"field_name": field, "field_schema": schema}},
        }

    if len(types) == 1:
        return {"immediate": action(types[0])}
    return {"immediate_choice": [action(t) for t in types]}


def report_slow_read(board: IssueBoard, collection: str, indexed: Iterable[str],
                     filters: Iterable[Filter | None], seconds: float) -> None:
    """Open an issue for each unindexed field the filters of a slow read test."""
    indexed = set(indexed)
    for field, types in suspects(filters).items():
        if field not in indexed:
            board.submit(issue_id(collection, field), (
                f"Unindexed field `{field}` might be slowing down queries in collection "
                f"`{collection}`: a filtered read took {seconds:.1f} s"),
                _solution(collection, field, types))


def solve_indexed(board: IssueBoard, indexes: dict[str, Iterable[str]]) -> None:
    """Close the issues whose field is indexed now or whose collection is gone (`indexes`:
    collection name -> its indexed fields)."""
    def solved(issue: str) -> bool:
        if not issue.startswith(PREFIX + ":"):
            return False
        collection, _, field = issue[len(PREFIX) + 1:].partition(":")
        return collection not in indexes or field in indexes[collection]

    board.solve_where(solved)
