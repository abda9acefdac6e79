"""Payload indexes of a segment: from a condition's values or range to candidate offsets.

An index answers with a superset of the offsets whose payload passes the condition (stale
entries of changed payloads stay until the segment is rebuilt); the filter then checks only
those candidates, so a selective filter costs in proportion to its matches, not to the segment.
Indexes live in memory and are rebuilt from the payloads when a segment is opened.
"""

from __future__ import annotations

from array import array

import numpy as np

from node.engine.filters import field_values
from node.engine.payload_path import parse_key
from node.engine.text_analyzer import analyzer_for

# Schema types (Qdrant's PayloadSchemaType) whose values map to exact-match keys.
KEYED_TYPES = frozenset({"keyword", "integer", "bool", "uuid"})
# Schema types that answer ranges over numbers.
RANGE_TYPES = frozenset({"integer", "float"})


def posting_key(value: object) -> tuple[bool, object] | None:
    """The key a value is posted under: booleans apart from integers (true is not 1 to a match
    condition), floats nowhere (no match operand is a float, so none ever matches one)."""
    if isinstance(value, (float, list, dict)) or value is None:
        return None
    return isinstance(value, bool), value


def schema_type(schema: dict | str) -> str:
    return schema if isinstance(schema, str) else schema.get("type", "keyword")


class FieldIndex:
    """Offsets by value, kept in compact typed arrays: a Python list or set of int objects
    costs 4-8 times the memory per entry, and a segment holds an entry per point."""

    def __init__(self, key: str, schema: dict | str) -> None:
        self.key = key
        self.schema = schema
        self.kind = schema_type(schema)
        self._path = parse_key(key)
        self._postings: dict[tuple[bool, object], array] = {}
        self._numbers = array("d")
        self._number_offsets = array("q")
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._with_value = bytearray()  # one flag per offset: holds a value of the key
        # A text index: offsets by the tokens of their strings, read by the index's analyzer.
        self._analyzer = analyzer_for(schema) if self.kind == "text" else None
        self._tokens: dict[str, array] = {}
        # Offsets are indexed as they are appended; one added again had its payload changed.
        self._next_offset = 0
        # True once a point's payload changed after it was indexed: its old entries remain,
        # so lookups are only a superset and the filter must check each candidate.
        self.stale = False

    def add(self, offset: int, payload: dict | None) -> None:
        if offset < self._next_offset:
            self.stale = True
        self._next_offset = max(self._next_offset, offset + 1)
        if not payload:
            return
        values = field_values(payload, self._path)
        if self.kind == "text":  # a text index holds strings only, as Qdrant's
            values = [v for v in values if isinstance(v, str)]
        if not values:
            return
        if len(self._with_value) <= offset:
            self._with_value.extend(bytes(offset + 1 - len(self._with_value)))
        self._with_value[offset] = 1
        if self._analyzer is not None:
            self._add_tokens(offset, values)
            return
        for value in values:
            if isinstance(value, (list, dict)) or value is None:
                continue
            key = posting_key(value)
            if self.kind in KEYED_TYPES and key is not None:
                posting = self._postings.get(key)
                if posting is None:
                    posting = self._postings[key] = array("q")
                posting.append(offset)
            if self.kind in RANGE_TYPES and type(value) in (int, float):  # not booleans
                self._numbers.append(float(value))
                self._number_offsets.append(offset)
                self._sorted = None

    def _add_tokens(self, offset: int, strings: list) -> None:
        tokens = {token for text in strings for token in self._analyzer.document_tokens(text)}
        for token in tokens:
            posting = self._tokens.get(token)
            if posting is None:
                posting = self._tokens[token] = array("q")
            posting.append(offset)

    def _token_offsets(self, tokens: frozenset[str], every: bool) -> np.ndarray:
        """Offsets holding every one (or any one) of `tokens`; none for no tokens, as no text
        condition matches without a query token."""
        found = [self._tokens.get(token) for token in tokens]
        if every and (not found or any(posting is None for posting in found)):
            return np.zeros(0, np.int64)
        arrays = sorted((np.frombuffer(p, dtype=np.int64) for p in found if p is not None),
                        key=len)
        if not arrays:
            return np.zeros(0, np.int64)
        if not every:
            return np.unique(np.concatenate(arrays))
        result = np.unique(arrays[0])
        for other in arrays[1:]:
            result = np.intersect1d(result, other, assume_unique=False)
        return result

    def lookup(self, hint: tuple) -> np.ndarray | None:
        """Candidate offsets for a condition hint, or None when this index cannot tell."""
        kind, argument = hint
        if kind in ("text_all", "text_any") and self._analyzer is not None:
            return self._token_offsets(argument, every=kind == "text_all")
        if kind == "values" and self.kind in KEYED_TYPES:
            keys = [posting_key(v) for v in argument]
            found = [np.frombuffer(self._postings[k], dtype=np.int64)
                     for k in keys if k in self._postings]
            return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        if kind == "range" and self.kind in RANGE_TYPES:
            return self._range(*argument)
        return None

    def _range(self, gt, gte, lt, lte) -> np.ndarray:
        if self._sorted is None:
            numbers = np.frombuffer(self._numbers, dtype=np.float64)
            order = np.argsort(numbers, kind="stable")
            self._sorted = (numbers[order],
                            np.frombuffer(self._number_offsets, dtype=np.int64)[order])
        numbers, offsets = self._sorted
        low, high = 0, len(numbers)
        if gte is not None:
            low = max(low, int(np.searchsorted(numbers, gte, side="left")))
        if gt is not None:
            low = max(low, int(np.searchsorted(numbers, gt, side="right")))
        if lte is not None:
            high = min(high, int(np.searchsorted(numbers, lte, side="right")))
        if lt is not None:
            high = min(high, int(np.searchsorted(numbers, lt, side="left")))
        return np.unique(offsets[low:high]) if high > low else np.zeros(0, np.int64)

    def offsets_with_value(self) -> np.ndarray:
        return np.flatnonzero(np.frombuffer(self._with_value, dtype=np.uint8))


def build_field_index(key: str, schema: dict | str, payloads) -> FieldIndex:
    """An index of `key` over (offset, payload) pairs."""
    index = FieldIndex(key, schema)
    for offset, payload in payloads:
        index.add(offset, payload)
    return index
