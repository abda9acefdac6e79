"""Helpers of the snapshot tests: collections of known points and their digests."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from nodeproc import HttpSession

DIM = 16


def make_collection(http: HttpSession, name: str, count: int, start: int = 0,
                    **params: object) -> None:
    r = http.put(f"/collections/{name}", json={
        "vectors": {"size": DIM, "distance": "Cosine"}, **params})
    assert r.status_code in (200, 409), r.text
    upsert(http, name, range(start, start + count))


def upsert(http: HttpSession, name: str, ids) -> None:
    ids = list(ids)
    rng = np.random.default_rng(ids[0] if ids else 0)
    points = [{"id": i, "vector": rng.random(DIM).tolist(), "payload": {"n": i, "tag": i % 7}}
              for i in ids]
    r = http.put(f"/collections/{name}/points?wait=true", json={"points": points})
    assert r.status_code == 200, r.text


def digest(http: HttpSession, name: str, below: int | None = None) -> tuple[int, str]:
    """(point count, sha256 of every point's id, payload and vector, in id order)."""
    points, offset = [], None
    while True:
        body = {"limit": 500, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        r = http.post(f"/collections/{name}/points/scroll", json=body)
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        points += result["points"]
        offset = result["next_page_offset"]
        if offset is None:
            break
    points.sort(key=lambda p: p["id"])
    if below is not None:
        points = [p for p in points if p["id"] < below]
    text = json.dumps([[p["id"], p["payload"], np.round(p["vector"], 5).tolist()]
                       for p in points], sort_keys=True)
    return len(points), hashlib.sha256(text.encode()).hexdigest()
