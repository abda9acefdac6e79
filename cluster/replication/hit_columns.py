"""The answer of a peer's `query_batch` as columns: a few arrays instead of a tagged object
per hit.

Ranking answers carry ids and scores only (payloads and vectors are fetched for the final
page), so a batch of q queries with k hits each travels as the scores and ids of all hits in
one array each, and how many hits each query has. Ids that are not all integers in int64's
range (UUIDs, or ids past 2**63) travel as a list. An answer whose hits carry payloads or
vectors is sent as it is.
"""

from __future__ import annotations

import numpy as np

from node.engine.shard_query import Hit

KIND = "hit_columns"
_I64_MAX = 2**63 - 1


def pack(answers: list[list[Hit]]) -> dict | list[list[Hit]]:
    """The columns of `answers` (hits per query), or `answers` when hits carry more."""
    flat = [hit for hits in answers for hit in hits]
    if any(payload is not None or vectors for _, _, payload, vectors in flat):
        return answers
    ids = [hit[1] for hit in flat]
    numeric = all(type(i) is int and 0 <= i <= _I64_MAX for i in ids)
    return {"kind": KIND,
            "counts": np.fromiter((len(h) for h in answers), np.int64, len(answers)),
            "scores": np.fromiter((hit[0] for hit in flat), np.float64, len(flat)),
            "ids": np.array(ids, dtype=np.int64) if numeric else ids}


def unpack(value: object) -> list[list[Hit]]:
    """Hits per query from what `pack` made (or from an answer sent as it is); ValueError
    for anything else."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict) or value.get("kind") != KIND:
        raise ValueError("a query_batch answer is a list of hit lists or hit columns")
    counts, scores, ids = value["counts"], value["scores"], value["ids"]
    if not (isinstance(counts, np.ndarray) and isinstance(scores, np.ndarray)
            and isinstance(ids, (np.ndarray, list))):
        raise ValueError("hit columns: counts and scores must be arrays")
    counts_list = counts.tolist()
    if any(c < 0 for c in counts_list) or sum(counts_list) != len(scores) or (
            len(ids) != len(scores)):
        raise ValueError("hit columns: counts, scores and ids do not match")
    score_list = scores.tolist()
    id_list = ids.tolist() if isinstance(ids, np.ndarray) else ids
    out: list[list[Hit]] = []
    start = 0
    for count in counts_list:
        end = start + count
        out.append([(s, i, None, {}) for s, i in zip(score_list[start:end], id_list[start:end],
                                                     strict=True)])
        start = end
    return out
