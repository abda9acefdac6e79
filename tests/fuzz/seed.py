"""Collections for generated requests to land on, so they reach past "collection not found".

Vectors are short (1 to 3 dimensions): the lists of numbers schemathesis generates are mostly
that short, so many generated queries and upserts match a collection's dimension and go deep.
Every kind the engine has is here: unnamed and named dense vectors, sparse vectors, a collection
without vectors, quantization, uint8 and float16 storage, payload indexes of every type, and a
low indexing threshold so that graphs get built.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from nodeproc import HttpSession

POINTS_PER_COLLECTION = 40
INDEXED_FIELDS = {
    "city": "keyword",
    "count": "integer",
    "price": "float",
    "flag": "bool",
    "location": "geo",
    "text": "text",
    "uid": "uuid",
    "ts": "datetime",
}
CITIES = ("Berlin", "Paris", "Lima", "Osaka")


@dataclass(frozen=True)
class Seed:
    name: str
    config: dict[str, Any]
    dense: dict[str, int] = field(default_factory=dict)  # vector name ("" if unnamed) -> size
    sparse: tuple[str, ...] = ()
    indexed: bool = True


SEEDS = (
    Seed("fz_dense", {"vectors": {"size": 2, "distance": "Cosine"},
                      "optimizers_config": {"indexing_threshold": 1}}, dense={"": 2}),
    Seed("fz_named", {"vectors": {"a": {"size": 1, "distance": "Dot"},
                                  "b": {"size": 3, "distance": "Euclid", "datatype": "float16"}},
                      "sparse_vectors": {"s": {"modifier": "idf"}}},
         dense={"a": 1, "b": 3}, sparse=("s",)),
    Seed("fz_sparse", {"sparse_vectors": {"text": {}}}, sparse=("text",), indexed=False),
    Seed("fz_quant", {"vectors": {"size": 3, "distance": "Manhattan", "datatype": "uint8"},
                      "quantization_config": {"scalar": {"type": "int8", "always_ram": True}},
                      "shard_number": 2},
         dense={"": 3}),
    Seed("fz_bare", {}, indexed=False),
)
ALIASES = {"fz_alias": "fz_dense"}
COLLECTION_NAMES = tuple(s.name for s in SEEDS) + tuple(ALIASES)
VECTOR_NAMES = ("a", "b", "s", "text")
FIELD_NAMES = tuple(INDEXED_FIELDS) + ("tags", "nested")
POINT_IDS = tuple(range(POINTS_PER_COLLECTION))


def payload(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "city": CITIES[i % len(CITIES)],
        "count": i,
        "price": round(rng.uniform(0, 100), 2),
        "flag": i % 2 == 0,
        "location": {"lon": rng.uniform(-180, 180), "lat": rng.uniform(-90, 90)},
        "text": f"point number {i} in {CITIES[i % len(CITIES)]}",
        "uid": f"00000000-0000-4000-8000-{i:012d}",
        "ts": f"2024-01-{1 + i % 28:02d}T00:00:00Z",
        "tags": [f"t{i % 3}", f"t{i % 5}"],
        "nested": {"a": [{"b": i}, {"b": -i}]},
    }


def point(seed: Seed, rng: random.Random, i: int) -> dict[str, Any]:
    vectors: dict[str, Any] = {}
    for name, size in seed.dense.items():
        vectors[name] = [float(rng.randint(0, 9)) for _ in range(size)]
    for name in seed.sparse:
        indices = sorted(rng.sample(range(50), 3))
        vectors[name] = {"indices": indices, "values": [rng.random() for _ in indices]}
    vector: Any = vectors.pop("") if "" in vectors else vectors
    return {"id": i, "vector": vector, "payload": payload(rng, i)}


def _ok(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"seeding failed: {response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text[:500]}")


def create_seeds(http: HttpSession) -> int:
    """Create (or re-create, as they were) every seed collection and alias; the requests sent."""
    rng = random.Random(20240601)
    sent = 0
    for seed in SEEDS:
        http.delete(f"/collections/{seed.name}")
        _ok(http.put(f"/collections/{seed.name}", json=seed.config))
        sent += 3
        if seed.indexed:
            for field_name, kind in INDEXED_FIELDS.items():
                _ok(http.put(f"/collections/{seed.name}/index?wait=true",
                             json={"field_name": field_name, "field_schema": kind}))
                sent += 1
        points = [point(seed, rng, i) for i in POINT_IDS]
        _ok(http.put(f"/collections/{seed.name}/points?wait=true", json={"points": points}))
    for alias, target in ALIASES.items():  # an alias the fuzzer moved elsewhere is taken back
        http.post("/collections/aliases",
                  json={"actions": [{"delete_alias": {"alias_name": alias}}]})
        _ok(http.post("/collections/aliases", json={"actions": [
            {"create_alias": {"collection_name": target, "alias_name": alias}}]}))
        sent += 2
    return sent


def drop_all_but_seeds(http: HttpSession) -> list[str]:
    """Delete every collection and alias the fuzzer created; the collections deleted."""
    aliases = http.get("/aliases").json()["result"]["aliases"]
    for alias in aliases:
        if alias["alias_name"] not in ALIASES:
            http.post("/collections/aliases",
                      json={"actions": [{"delete_alias": {"alias_name": alias["alias_name"]}}]})
    names = [c["name"] for c in http.get("/collections").json()["result"]["collections"]]
    extra = [n for n in names if n not in COLLECTION_NAMES]
    for name in extra:
        _ok(http.delete(f"/collections/{quote(name, safe='')}"))
    return extra
