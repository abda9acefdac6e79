"""Text payload index params (tokenizer, lowercase, ascii_folding, token lengths, stopwords,
stemmer) drive `match: {text}`, `text_any` and `phrase` on the indexed field, on one node over
both faces, across 3 shards of a cluster and after a restart; bad params are refused whole.

qdrant-client's local mode builds no indexes (it reads every field as unindexed), so the
expected ids below come from Qdrant's documented semantics: a document and a query go through
the field's tokenizer, then each token is folded to ASCII, lower-cased, dropped when a stopword,
stemmed and dropped when outside the length bounds; `text` wants every query token in one
string, `text_any` one of them, `phrase` all of them in a row (a phrase is read like a stored
text, stopwords dropped)."""

from __future__ import annotations

import contextlib
import random

import pytest
import requests
from client_errors import API_ERRORS, status_of
from nodeproc import connect
from qdrant_client import QdrantClient, models
from test_filters import TEXT_KEYS, WORDS, _rand_payload, _reference_collection

from node.engine.filters import compile_filter
from node.engine.text_analyzer import analyzer_for
from node.model import decode
from node.model.filters import Filter

DOCS = {
    1: "The quick brown fox jumps over the lazy dog",
    2: "Running cats and jumping dogs",
    3: "Ação e reação no Café",
    4: "Hello, World! hello again",
    5: "databases store vectors",
    6: "A cat runs quickly",
    7: ["lion king", "king of lions"],
    8: "HELLO there",
    9: 42,
    10: "version 42 released",
}

ENGLISH_STEMMER = models.SnowballParams(type=models.Snowball.SNOWBALL,
                                        language=models.SnowballLanguage.ENGLISH)

# One payload field per index configuration; every point holds its document in each.
SCHEMAS = {
    "plain": models.TextIndexParams(type="text"),
    "stemmed": models.TextIndexParams(type="text", stopwords=models.Language.ENGLISH,
                                      stemmer=ENGLISH_STEMMER, phrase_matching=True),
    "folded": models.TextIndexParams(type="text", ascii_folding=True),
    "cased": models.TextIndexParams(type="text", lowercase=False),
    "prefixes": models.TextIndexParams(type="text", tokenizer=models.TokenizerType.PREFIX,
                                       max_token_len=6),
    "spaces": models.TextIndexParams(type="text", tokenizer=models.TokenizerType.WHITESPACE),
    "bounded": models.TextIndexParams(type="text", min_token_len=4, max_token_len=7),
    "custom": models.TextIndexParams(type="text",
                                     stopwords=models.StopwordsSet(custom=["Quick"])),
    "multi": models.TextIndexParams(type="text", tokenizer=models.TokenizerType.MULTILINGUAL),
}

# (field, match, expected ids), each expectation derived from the semantics above.
CASES = [
    ("plain", models.MatchText(text="quick fox"), {1}),
    ("plain", models.MatchPhrase(phrase="lazy dog"), {1}),
    ("plain", models.MatchPhrase(phrase="dog lazy"), set()),
    ("plain", models.MatchTextAny(text_any="cats hello"), {2, 4, 8}),
    ("plain", models.MatchText(text="acao"), set()),
    ("plain", models.MatchText(text="42"), {10}),
    ("plain", models.MatchTextAny(text_any="lions"), {7}),
    ("plain", models.MatchPhrase(phrase="lion king"), {7}),
    # every query token in one string of an array, as Qdrant's payload check reads it
    ("plain", models.MatchText(text="lion lions"), set()),
    # stems: running/runs -> run, cats -> cat; "the", "and", "over" are English stopwords
    ("stemmed", models.MatchText(text="run"), {2, 6}),
    ("stemmed", models.MatchText(text="the cat"), {2, 6}),
    ("stemmed", models.MatchPhrase(phrase="cats and jumping"), {2}),
    ("stemmed", models.MatchPhrase(phrase="jumps lazy"), {1}),
    ("stemmed", models.MatchText(text="the"), set()),
    ("stemmed", models.MatchTextAny(text_any="the jumped"), {1, 2}),
    ("folded", models.MatchText(text="acao cafe"), {3}),
    ("folded", models.MatchText(text="REAÇÃO"), {3}),
    ("cased", models.MatchText(text="hello"), {4}),
    ("cased", models.MatchText(text="HELLO"), {8}),
    ("plain", models.MatchText(text="HELLO"), {4, 8}),
    # prefix: stored words as their prefixes of up to 6 characters, a query word as one
    ("prefixes", models.MatchText(text="hel"), {4, 8}),
    ("prefixes", models.MatchText(text="dat vec"), {5}),
    ("prefixes", models.MatchText(text="databasex"), {5}),
    ("prefixes", models.MatchText(text="rel"), {10}),
    ("prefixes", models.MatchText(text="xyz"), set()),
    # whitespace: punctuation stays part of the token
    ("spaces", models.MatchText(text="world"), set()),
    ("spaces", models.MatchText(text="world!"), {4}),
    ("plain", models.MatchText(text="world"), {4}),
    # length bounds apply to the query too: "fox" is too short to be a token at all
    ("bounded", models.MatchText(text="quick fox"), {1}),
    ("bounded", models.MatchText(text="fox"), set()),
    ("bounded", models.MatchText(text="databases"), set()),
    ("bounded", models.MatchText(text="vectors"), {5}),
    # custom stopwords are lower-cased like the tokens; a phrase skips them
    ("custom", models.MatchPhrase(phrase="the brown fox"), {1}),
    ("custom", models.MatchText(text="quick"), set()),
    ("custom", models.MatchText(text="cat"), {6}),
    # the multilingual tokenizer leaves out tokens without a letter
    ("multi", models.MatchText(text="42"), set()),
    ("multi", models.MatchText(text="version"), {10}),
]


def _payload(doc: object) -> dict:
    return {field: doc for field in SCHEMAS}


def _fill(client: QdrantClient, name: str, shards: int = 1) -> None:
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance="Dot"),
                             shard_number=shards)
    for field, schema in SCHEMAS.items():
        client.create_payload_index(name, field, field_schema=schema, wait=True)
    client.upsert(name, [models.PointStruct(id=i, vector=[1.0, float(i)], payload=_payload(doc))
                         for i, doc in DOCS.items()], wait=True)


def _ids(client: QdrantClient, name: str, field: str, match) -> set:
    points, _ = client.scroll(name, scroll_filter=models.Filter(
        must=[models.FieldCondition(key=field, match=match)]), limit=100)
    return {p.id for p in points}


def _assert_cases(client: QdrantClient, name: str) -> None:
    wrong = [(field, match, expected, found) for field, match, expected in CASES
             if (found := _ids(client, name, field, match)) != expected]
    assert not wrong


# ---- the analyzer alone: Qdrant's own tokenizer examples


def test_prefix_tokenizer_indexes_prefixes_and_queries_one():
    analyzer = analyzer_for({"type": "text", "tokenizer": "prefix", "max_token_len": 4})
    assert analyzer.document_tokens("hello, мир!") == ["h", "he", "hel", "hell", "м", "ми", "мир"]
    assert analyzer.query_tokens("hello, мир!") == ["hell", "мир"]


def test_token_steps_run_in_qdrants_order():
    # Folding before lower-casing, stopwords before stemming, lengths after stemming.
    analyzer = analyzer_for({"type": "text", "ascii_folding": True, "stopwords": "english",
                             "stemmer": {"type": "snowball", "language": "english"},
                             "min_token_len": 3})
    assert analyzer.document_tokens("Ærø THE Cats were running ab") == ["aero", "cat", "run"]
    assert analyzer_for({"type": "text", "tokenizer": "whitespace"}).document_tokens(
        " Hello,\u3000World ") == ["hello,", "world"]


# One common stopword of each language with a list (Qdrant's own examples).
COMMON_STOPWORDS = {
    "azerbaijani": "və", "catalan": "i", "danish": "og", "dutch": "en", "english": "and",
    "finnish": "ja", "french": "et", "german": "und", "hungarian": "és", "indonesian": "dan",
    "italian": "e", "norwegian": "og", "portuguese": "e", "romanian": "ar", "russian": "и",
    "spanish": "y", "swedish": "och", "tajik": "ва", "turkish": "ve",
}


@pytest.mark.parametrize("language", sorted(COMMON_STOPWORDS))
def test_each_stopword_list_drops_its_common_word_and_keeps_others(language):
    analyzer = analyzer_for({"type": "text", "stopwords": language})
    word = COMMON_STOPWORDS[language]
    assert analyzer.document_tokens(f"qdrant {word.upper()} qdrant") == ["qdrant", "qdrant"]


def test_stopword_entries_holding_a_space_drop_nothing():
    # Qdrant's Azerbaijani list holds "onların " (a trailing space): "onların" is no stopword.
    analyzer = analyzer_for({"type": "text", "stopwords": "azerbaijani"})
    assert analyzer.document_tokens("onların və") == ["onların"]


def _random_text_filter(rng: random.Random) -> dict:
    """A text, text_any or phrase condition on a text key (or inside `nested` on items), alone
    or under must_not / should, with words from the payload generator's vocabulary."""
    query = " ".join(rng.choice(WORDS + ["dark", "red", "2", "nothing"])
                     for _ in range(rng.randint(1, 3)))
    match = {rng.choice(["text", "text_any", "phrase"]): query}
    if rng.random() < 0.2:
        condition = {"nested": {"key": "items", "filter": {"must": [
            {"key": rng.choice(["name", "tags"]), "match": match}]}}}
    else:
        condition = {"key": rng.choice(TEXT_KEYS), "match": match}
    return {rng.choice(["must", "must", "should", "must_not"]): [condition]}


@pytest.mark.parametrize("seed", [4, 5])
def test_default_text_indexes_agree_with_the_reference_in_bulk(seed):
    """A text index with Qdrant's default params reads like an unindexed field, the one case
    local mode covers: random text conditions on text-indexed keys (nested ones too) agree."""
    rng = random.Random(seed)
    point_ids = list(range(1, 301))
    points = {pid: _rand_payload(rng) for pid in point_ids}
    reference = _reference_collection(points, {pid: {"a"} for pid in point_ids})
    schemas = [{"type": "text"}, {"type": "text", "tokenizer": "word", "lowercase": True,
                                  "phrase_matching": True, "stemmer": {"type": "none"}}]
    analyzers = {key: analyzer_for(schemas[i % 2]) for i, key in enumerate(TEXT_KEYS)}
    filters = [_random_text_filter(rng) for _ in range(400)]
    mismatches, partial = [], 0
    for raw in filters:
        expected = {r.id for r in reference.scroll(
            "ref", scroll_filter=models.Filter.model_validate(raw), limit=len(points) + 1,
            with_payload=False)[0]}
        compiled = compile_filter(decode(Filter, raw, path="filter"))
        bound = compiled.with_text_indexes(analyzers)
        assert bound is not compiled  # every filter reads a text-indexed key
        got = {pid for pid, payload in points.items()
               if bound.matches(pid, payload, lambda name: name == "a")}
        partial += 0 < len(expected) < len(points)
        if got != expected:
            mismatches.append((raw, sorted(got ^ expected)[:5]))
    print(f"default text indexes, seed={seed}: {len(filters)} filters x {len(points)} points, "
          f"{partial} with a result neither empty nor everything, {len(mismatches)} mismatches")
    assert partial > 100
    assert not mismatches, mismatches[:3]


# ---- one node, both faces


@pytest.fixture(scope="module")
def texts(client: QdrantClient, face: str) -> str:
    name = f"text_index_{face}"
    _fill(client, name)
    return name


def test_text_conditions_read_through_the_fields_index(client, texts):
    _assert_cases(client, texts)


def test_params_are_shown_in_collection_info(client, texts):
    schema = client.get_collection(texts).payload_schema
    stemmed = schema["stemmed"].params
    assert stemmed.stemmer.language == models.SnowballLanguage.ENGLISH
    assert stemmed.stopwords == models.Language.ENGLISH
    assert stemmed.phrase_matching is True
    assert schema["folded"].params.ascii_folding is True
    assert schema["custom"].params.stopwords.custom == ["Quick"]
    assert schema["prefixes"].params.tokenizer == models.TokenizerType.PREFIX
    assert schema["plain"].points == len(DOCS) - 1  # the number 42 is no text


def test_count_and_search_use_the_index_params(client, texts):
    condition = models.Filter(must=[models.FieldCondition(
        key="stemmed", match=models.MatchText(text="run"))])
    assert client.count(texts, count_filter=condition).count == 2
    hits = client.query_points(texts, query=[1.0, 0.0], query_filter=condition, limit=10).points
    assert {hit.id for hit in hits} == {2, 6}


def test_formula_conditions_use_the_index_params(client, texts):
    formula = models.FormulaQuery(formula=models.SumExpression(sum=[
        "$score", models.FieldCondition(key="stemmed", match=models.MatchText(text="runs"))]))
    hits = client.query_points(texts, prefetch=models.Prefetch(query=[1.0, 0.0], limit=20),
                               query=formula, limit=20).points
    assert {hit.id for hit in hits if hit.score == 2.0} == {2, 6}
    assert all(hit.score == 1.0 for hit in hits if hit.id not in (2, 6))


def test_nested_text_condition_uses_the_nested_fields_index(client, unique_name):
    client.create_collection(unique_name,
                             vectors_config=models.VectorParams(size=2, distance="Dot"))
    client.create_payload_index(unique_name, "items[].name", wait=True,
                                field_schema=SCHEMAS["stemmed"])
    client.upsert(unique_name, [
        models.PointStruct(id=1, vector=[1, 0], payload={"items": [{"name": "running shoes"}]}),
        models.PointStruct(id=2, vector=[1, 0], payload={"items": [{"name": "run"}]}),
        models.PointStruct(id=3, vector=[1, 0], payload={"items": [{"name": "walking"}]}),
    ], wait=True)
    nested = models.Filter(must=[models.NestedCondition(nested=models.Nested(
        key="items", filter=models.Filter(must=[models.FieldCondition(
            key="name", match=models.MatchText(text="runs"))])))])
    points, _ = client.scroll(unique_name, scroll_filter=nested)
    assert {p.id for p in points} == {1, 2}


def test_changed_payloads_are_matched_by_their_new_text(client, unique_name):
    client.create_collection(unique_name,
                             vectors_config=models.VectorParams(size=2, distance="Dot"))
    client.create_payload_index(unique_name, "t", field_schema=SCHEMAS["stemmed"], wait=True)
    client.upsert(unique_name, [models.PointStruct(id=i, vector=[1, 0], payload={"t": doc})
                                for i, doc in DOCS.items()], wait=True)
    client.set_payload(unique_name, {"t": "nothing to see"}, points=[2], wait=True)
    client.overwrite_payload(unique_name, {"t": "she ran, he runs"}, points=[5], wait=True)
    assert _ids(client, unique_name, "t", models.MatchText(text="running")) == {5, 6}
    assert _ids(client, unique_name, "t", models.MatchText(text="see")) == {2}


def test_recreating_an_index_with_other_params_changes_matching(client, unique_name):
    client.create_collection(unique_name,
                             vectors_config=models.VectorParams(size=2, distance="Dot"))
    client.upsert(unique_name, [models.PointStruct(id=i, vector=[1, 0], payload={"t": doc})
                                for i, doc in DOCS.items()], wait=True)
    run = models.MatchText(text="run")
    assert _ids(client, unique_name, "t", run) == set()
    client.create_payload_index(unique_name, "t", field_schema=SCHEMAS["stemmed"], wait=True)
    assert _ids(client, unique_name, "t", run) == {2, 6}
    client.delete_payload_index(unique_name, "t", wait=True)
    assert _ids(client, unique_name, "t", run) == set()


BAD_SCHEMAS = [
    {"type": "text", "stopwords": "klingon"},
    {"type": "text", "stopwords": {"languages": ["klingon"]}},
    {"type": "text", "stopwords": {"custom": "the"}},
    {"type": "text", "stopwords": {"languages": ["english"], "words": ["x"]}},
    {"type": "text", "stemmer": {"type": "snowball"}},
    {"type": "text", "stemmer": {"type": "snowball", "language": "klingon"}},
    {"type": "text", "stemmer": {"type": "porter", "language": "english"}},
    {"type": "text", "stemmer": "english"},
    {"type": "text", "min_token_len": -1},
    {"type": "text", "max_token_len": 2.5},
    {"type": "text", "ascii_folding": "yes"},
    {"type": "text", "tokenizer": "letters"},
    {"type": "keyword", "stemmer": {"type": "snowball", "language": "english"}},
    {"type": "integer", "ascii_folding": True},
]


@pytest.mark.parametrize("schema", BAD_SCHEMAS)
def test_bad_text_params_are_refused_and_nothing_is_created(node, http, schema, unique_name):
    http.put(f"/collections/{unique_name}",
             json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    reply = http.put(f"/collections/{unique_name}/index?wait=true",
                     json={"field_name": "t", "field_schema": schema})
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["status"]["error"] and "time" in body
    info = http.get(f"/collections/{unique_name}").json()["result"]
    assert info["payload_schema"] == {}


def test_a_stopword_language_without_a_list_here_is_refused_by_name(client, unique_name):
    client.create_collection(unique_name,
                             vectors_config=models.VectorParams(size=2, distance="Dot"))
    with pytest.raises(API_ERRORS) as refused:
        client.create_payload_index(unique_name, "t", wait=True, field_schema=(
            models.TextIndexParams(type="text", stopwords=models.Language.CHINESE)))
    assert status_of(refused.value) == 400
    assert "chinese" in str(refused.value)
    assert client.get_collection(unique_name).payload_schema == {}


# ---- after a restart, and across the shards of a cluster


def test_params_hold_after_a_restart(own_node):
    with contextlib.closing(connect(own_node)) as client:
        _fill(client, "restarted", shards=2)
    own_node.restart(graceful=False)  # acknowledged writes and the index outlive a crash
    with contextlib.closing(connect(own_node)) as client:
        _assert_cases(client, "restarted")


def test_params_hold_across_three_shards_from_every_node(cluster):
    first, *others = cluster.nodes
    with cluster.client(first) as client:
        _fill(client, "sharded_texts", shards=3)
    cluster.wait_all_active("sharded_texts")
    for node in cluster.nodes:
        with cluster.client(node) as client:
            _assert_cases(client, "sharded_texts")


def test_bad_params_are_refused_in_a_cluster(cluster):
    node = cluster.nodes[0]
    session = cluster.http(node)
    session.put("/collections/sharded_refusal",
                json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3}
                ).raise_for_status()
    reply = session.put("/collections/sharded_refusal/index?wait=true", json={
        "field_name": "t", "field_schema": {"type": "text", "stemmer": {"type": "snowball"}}})
    assert reply.status_code == 400
    for other in cluster.nodes:
        info = requests.get(f"{other.url}/collections/sharded_refusal", timeout=10).json()
        assert info["result"]["payload_schema"] == {}
