"""Collection aliases end to end: create, delete, rename, atomic lists, name clashes, and a
switch under concurrent reads that must never expose a half-applied state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from client_errors import API_ERRORS, status_of
from nodeproc import HttpSession, NodeProcess
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(90)

VECTORS = models.VectorParams(size=3, distance=models.Distance.DOT)
SWITCHES = 50
READER_THREADS = 3


@pytest.fixture
def make_collection(client: QdrantClient, unique_name: str) -> Iterator[Callable[..., str]]:
    """Create collections named after the test (suffix a, b, ...), holding `points` points."""
    created: list[str] = []

    def make(points: int = 0) -> str:
        name = f"{unique_name}_{chr(ord('a') + len(created))}"
        client.create_collection(name, vectors_config=VECTORS)
        if points:
            client.upsert(
                name,
                [models.PointStruct(id=i, vector=[1.0, 0.0, float(i)]) for i in range(points)],
                wait=True,
            )
        created.append(name)
        return name

    yield make


def create_alias(alias: str, collection: str) -> models.CreateAliasOperation:
    return models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
    )


def delete_alias(alias: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


def rename_alias(old: str, new: str) -> models.RenameAliasOperation:
    return models.RenameAliasOperation(
        rename_alias=models.RenameAlias(old_alias_name=old, new_alias_name=new)
    )


def alias_map(client: QdrantClient) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def assert_error_envelope(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["status"]["error"], str) and body["status"]["error"]
    assert isinstance(body["time"], (int, float))
    return body["status"]["error"]


def test_create_list_and_use_an_alias(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection(points=4)
    alias = f"{unique_name}_alias"
    assert client.update_collection_aliases(
        change_aliases_operations=[create_alias(alias, collection)]
    )

    assert alias_map(client)[alias] == collection
    listed = client.get_collection_aliases(collection).aliases
    assert [(a.alias_name, a.collection_name) for a in listed] == [(alias, collection)]
    raw = http.get(f"/collections/{collection}/aliases").json()["result"]
    assert raw == {"aliases": [{"alias_name": alias, "collection_name": collection}]}
    assert {"alias_name": alias, "collection_name": collection} in http.get("/aliases").json()[
        "result"
    ]["aliases"]

    # An alias is not a collection: it is not listed as one.
    assert alias not in [c.name for c in client.get_collections().collections]
    assert client.collection_exists(alias) is True


def test_every_collection_api_accepts_an_alias(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection(points=2)
    alias = f"{unique_name}_alias"
    client.update_collection_aliases(change_aliases_operations=[create_alias(alias, collection)])

    info = client.get_collection(alias)
    assert info.points_count == 2
    vectors = info.config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert (vectors.size, vectors.distance) == (VECTORS.size, VECTORS.distance)

    client.upsert(
        alias,
        [models.PointStruct(id=100, vector=[0.5, 0.5, 0.5], payload={"via": "alias"})],
        wait=True,
    )
    client.upsert(
        alias, models.Batch(ids=[101], vectors=[[1.0, 1.0, 1.0]], payloads=[{"via": "batch"}])
    )
    assert client.count(alias, exact=True).count == 4
    assert client.count(collection, exact=True).count == 4
    (record,) = client.retrieve(alias, [100])
    assert record.payload == {"via": "alias"}
    (record,) = client.retrieve(collection, [101])
    assert record.payload == {"via": "batch"}
    response = http.get(f"/collections/{alias}/points/100")
    assert response.status_code == 200, response.text
    assert response.json()["result"]["payload"] == {"via": "alias"}

    assert client.update_collection(
        alias, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=12345)
    )
    optimizer = client.get_collection(collection).config.optimizer_config
    assert optimizer.indexing_threshold == 12345


def test_delete_alias(
    client: QdrantClient, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection()
    alias = f"{unique_name}_alias"
    client.update_collection_aliases(change_aliases_operations=[create_alias(alias, collection)])
    assert client.update_collection_aliases(change_aliases_operations=[delete_alias(alias)])
    assert alias not in alias_map(client)
    assert client.get_collection_aliases(collection).aliases == []
    with pytest.raises(API_ERRORS) as excinfo:
        client.get_collection(alias)
    assert status_of(excinfo.value) == 404
    assert client.collection_exists(collection)


def test_rename_alias(
    client: QdrantClient, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection(points=3)
    old, new = f"{unique_name}_old", f"{unique_name}_new"
    client.update_collection_aliases(change_aliases_operations=[create_alias(old, collection)])
    assert client.update_collection_aliases(change_aliases_operations=[rename_alias(old, new)])
    aliases = alias_map(client)
    assert old not in aliases
    assert aliases[new] == collection
    assert client.count(new, exact=True).count == 3
    with pytest.raises(API_ERRORS) as excinfo:
        client.count(old)
    assert status_of(excinfo.value) == 404


def test_switch_is_one_atomic_list(
    client: QdrantClient, make_collection: Callable[..., str], unique_name: str
) -> None:
    old, new = make_collection(points=1), make_collection(points=5)
    alias = f"{unique_name}_prod"
    client.update_collection_aliases(change_aliases_operations=[create_alias(alias, old)])
    assert client.count(alias).count == 1
    assert client.update_collection_aliases(
        change_aliases_operations=[delete_alias(alias), create_alias(alias, new)]
    )
    assert alias_map(client)[alias] == new
    assert client.count(alias).count == 5
    assert client.get_collection_aliases(old).aliases == []
    assert [a.alias_name for a in client.get_collection_aliases(new).aliases] == [alias]


def test_a_failing_list_changes_nothing(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection()
    kept = f"{unique_name}_kept"
    client.update_collection_aliases(change_aliases_operations=[create_alias(kept, collection)])
    before = alias_map(client)

    fresh = f"{unique_name}_fresh"
    body = {
        "actions": [
            {"create_alias": {"collection_name": collection, "alias_name": fresh}},
            {"delete_alias": {"alias_name": kept}},
            {"delete_alias": {"alias_name": f"{unique_name}_missing"}},
        ]
    }
    response = http.post("/collections/aliases", json=body)
    message = assert_error_envelope(response, 404)
    assert f"{unique_name}_missing" in message
    assert alias_map(client) == before
    assert fresh not in alias_map(client)

    # The same through the client; and a list failing on a missing collection, too.
    with pytest.raises(API_ERRORS):
        client.update_collection_aliases(
            change_aliases_operations=[
                rename_alias(kept, fresh),
                create_alias(f"{unique_name}_other", f"{unique_name}_no_such_collection"),
            ]
        )
    assert alias_map(client) == before


def test_alias_errors(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection()
    create = {"collection_name": f"{unique_name}_none", "alias_name": f"{unique_name}_a"}
    response = http.post("/collections/aliases", json={"actions": [{"create_alias": create}]})
    assert f"{unique_name}_none" in assert_error_envelope(response, 404)

    response = http.post(
        "/collections/aliases", json={"actions": [{"delete_alias": {"alias_name": "nope_x1"}}]}
    )
    assert "nope_x1" in assert_error_envelope(response, 404)

    rename = {"old_alias_name": f"{unique_name}_ghost", "new_alias_name": f"{unique_name}_b"}
    response = http.post("/collections/aliases", json={"actions": [{"rename_alias": rename}]})
    assert f"{unique_name}_ghost" in assert_error_envelope(response, 404)

    response = http.get(f"/collections/{unique_name}_none/aliases")
    assert_error_envelope(response, 404)
    assert collection in [c.name for c in client.get_collections().collections]


def test_alias_cannot_take_a_collection_name(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str]
) -> None:
    target, existing = make_collection(), make_collection()
    response = http.post(
        "/collections/aliases",
        json={"actions": [{"create_alias": {"collection_name": target, "alias_name": existing}}]},
    )
    message = assert_error_envelope(response, 409)
    assert existing in message
    assert existing not in alias_map(client)
    # The collection under that name is untouched.
    assert client.get_collection(existing).points_count == 0


def test_collection_cannot_take_an_alias_name(
    client: QdrantClient, http: HttpSession, make_collection: Callable[..., str], unique_name: str
) -> None:
    collection = make_collection(points=2)
    alias = f"{unique_name}_alias"
    client.update_collection_aliases(change_aliases_operations=[create_alias(alias, collection)])
    response = http.put(f"/collections/{alias}", json={"vectors": {"size": 3, "distance": "Dot"}})
    assert alias in assert_error_envelope(response, 409)
    assert alias_map(client)[alias] == collection
    assert client.count(alias).count == 2
    assert alias not in [c.name for c in client.get_collections().collections]


def test_deleting_a_collection_drops_its_aliases(
    client: QdrantClient, make_collection: Callable[..., str], unique_name: str
) -> None:
    doomed, other = make_collection(points=1), make_collection(points=1)
    gone1, gone2, stays = (f"{unique_name}_{s}" for s in ("g1", "g2", "stays"))
    client.update_collection_aliases(
        change_aliases_operations=[
            create_alias(gone1, doomed),
            create_alias(gone2, doomed),
            create_alias(stays, other),
        ]
    )
    assert client.delete_collection(doomed)
    aliases = alias_map(client)
    assert gone1 not in aliases and gone2 not in aliases
    assert aliases[stays] == other
    with pytest.raises(API_ERRORS) as excinfo:
        client.count(gone1)
    assert status_of(excinfo.value) == 404
    # The freed names can become a collection, or be reused as an alias.
    client.create_collection(gone1, vectors_config=VECTORS)
    assert client.count(gone1).count == 0
    client.update_collection_aliases(change_aliases_operations=[create_alias(gone2, other)])
    assert client.count(gone2).count == 1
    client.delete_collection(gone1)


def test_switch_under_concurrent_reads(
    node: NodeProcess, client: QdrantClient, make_collection: Callable[..., str], unique_name: str
) -> None:
    small, large = make_collection(points=3), make_collection(points=7)
    valid_counts = {3, 7}
    alias = f"{unique_name}_live"
    client.update_collection_aliases(change_aliases_operations=[create_alias(alias, small)])

    stop = threading.Event()
    failures: list[str] = []
    reads = [0] * READER_THREADS

    def reader(slot: int) -> None:
        # One client per thread: each has its own connection pool.
        own = QdrantClient(url=node.url, timeout=10, check_compatibility=False)
        try:
            while not stop.is_set():
                try:
                    count = own.count(alias, exact=True).count
                    info = own.get_collection(alias)
                except Exception as exc:  # every read must succeed, whatever the error
                    failures.append(f"read failed during a switch: {exc!r}")
                    return
                if count not in valid_counts:
                    failures.append(f"count through the alias was {count}")
                if info.points_count not in valid_counts:
                    failures.append(f"points_count through the alias was {info.points_count}")
                reads[slot] += 1
        finally:
            own.close()

    threads = [
        threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READER_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        current = small
        for _ in range(SWITCHES):
            target = large if current == small else small
            client.update_collection_aliases(
                change_aliases_operations=[delete_alias(alias), create_alias(alias, target)]
            )
            current = target
            time.sleep(0.005)
            if failures:
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not failures, failures[:5]
    assert all(n > 0 for n in reads), f"some reader never completed a read: {reads}"
    assert alias_map(client)[alias] == current
