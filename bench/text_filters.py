"""What a full-text filter costs on one node, by how the field is indexed.

20,000 points whose `t` holds a 12-word sentence drawn from 2,000 words. The same text
conditions are counted on three fields holding the same sentences: one without an index (every
string is tokenized at every request), one with a default text index and one with English
stopwords and stemming (both narrow the points to those holding the query's tokens, then check
those). Each figure is the median of REPEATS `count` requests, in milliseconds.

Run alone: `python -m bench.text_filters`.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.nodes import http_json, start

POINTS = 20_000
WORDS = [f"word{i}" for i in range(2_000)]
REPEATS = 7
FIELDS = {
    "plain": None,
    "indexed": {"type": "text"},
    "stemmed": {"type": "text", "stopwords": "english",
                "stemmer": {"type": "snowball", "language": "english"}},
}
QUERIES = {
    "text, 2 rare words": {"text": "word5 word7"},
    "text, 1 word": {"text": "word42"},
    "text_any, 3 words": {"text_any": "word1 word2 word3"},
    "phrase, 2 words": {"phrase": "word10 word11"},
}


def _fill(url: str, rng: random.Random) -> None:
    http_json("PUT", f"{url}/collections/texts",
              {"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1})
    for field, schema in FIELDS.items():
        if schema is not None:
            http_json("PUT", f"{url}/collections/texts/index?wait=true",
                      {"field_name": field, "field_schema": schema})
    for start_id in range(0, POINTS, 1_000):
        points = []
        for pid in range(start_id, start_id + 1_000):
            sentence = " ".join(rng.choice(WORDS) for _ in range(12))
            points.append({"id": pid, "vector": [1.0, 0.0],
                           "payload": {field: sentence for field in FIELDS}})
        http_json("PUT", f"{url}/collections/texts/points?wait=true", {"points": points})


def _median_ms(url: str, field: str, match: dict) -> tuple[float, int]:
    body = {"filter": {"must": [{"key": field, "match": match}]}, "exact": True}
    times, count = [], 0
    for _ in range(REPEATS):
        began = time.perf_counter()
        count = http_json("POST", f"{url}/collections/texts/points/count", body)["result"]["count"]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), count


def main() -> None:
    rng = random.Random(11)
    with start(1) as deployment:
        url = deployment.urls[0]
        _fill(url, rng)
        print(f"count with a text filter over {POINTS} points (median of {REPEATS}, ms)")
        print(f"{'query':<22}" + "".join(f"{field:>16}" for field in FIELDS))
        for label, match in QUERIES.items():
            cells = []
            for field in FIELDS:
                ms, count = _median_ms(url, field, match)
                cells.append(f"{ms:9.1f} ({count:>4})")
            print(f"{label:<22}" + "".join(f"{cell:>16}" for cell in cells))


if __name__ == "__main__":
    main()
