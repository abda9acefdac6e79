"""`GET /issues` and `DELETE /issues` on a real node: Qdrant's issue records, opened and solved
as collections come and go, and cleared by an operator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nodeproc import HttpSession, NodeProcess, wait_for

pytestmark = pytest.mark.timeout(120)

TOO_MANY = "TOO_MANY_COLLECTIONS/"


def issue_ids(http: HttpSession) -> set[str]:
    response = http.get("/issues")
    assert response.status_code == 200, response.text
    issues = response.json()["result"]["issues"]
    for issue in issues:
        assert set(issue) == {"id", "description", "solution", "timestamp"}, issue
    return {issue["id"] for issue in issues}


def create(http: HttpSession, name: str) -> None:
    response = http.put(f"/collections/{name}",
                        json={"vectors": {"size": 4, "distance": "Dot"}})
    assert response.status_code == 200, response.text


def test_too_many_small_collections(own_node: NodeProcess) -> None:
    http = HttpSession(own_node.url)
    for i in range(30):
        create(http, f"tenant_{i}")
    assert TOO_MANY not in issue_ids(http)  # 30 is not more than 30

    create(http, "tenant_30")
    wait_for(lambda: TOO_MANY in issue_ids(http), 10, "the issue after the 31st collection")
    (issue,) = [i for i in http.get("/issues").json()["result"]["issues"] if i["id"] == TOO_MANY]
    assert "31 collections" in issue["description"]
    assert set(issue["solution"]) == {"refactor"}

    assert http.delete("/collections/tenant_30").status_code == 200
    wait_for(lambda: TOO_MANY not in issue_ids(http), 10, "the issue solved by a delete")

    create(http, "tenant_30")
    wait_for(lambda: TOO_MANY in issue_ids(http), 10, "the issue open again")
    cleared = http.delete("/issues")
    assert cleared.status_code == 200 and cleared.json()["result"] is True
    assert issue_ids(http) == set()
    http.close()


@pytest.fixture
def eager_node(tmp_path) -> Iterator[NodeProcess]:
    """A node where every filtered read counts as slow (node/fault_injection.py)."""
    node = NodeProcess(tmp_path / "storage", name="eager-node",
                       env={"FLOTILLA_TEST_SLOW_READ_SECONDS": "0"})
    node.start_and_wait()
    try:
        yield node
    finally:
        node.stop()


def unindexed(http: HttpSession) -> dict[str, dict]:
    issues = http.get("/issues").json()["result"]["issues"]
    return {i["id"]: i for i in issues if i["id"].startswith("UNINDEXED_FIELD:")}


def test_unindexed_fields_of_slow_reads(eager_node: NodeProcess) -> None:
    http = HttpSession(eager_node.url)
    create(http, "shop")
    response = http.put("/collections/shop/index",
                        json={"field_name": "sku", "field_schema": "keyword"})
    assert response.status_code == 200, response.text
    # Reads without a filter, or filtering only on indexed fields, open nothing.
    assert http.post("/collections/shop/points/count", json={}).status_code == 200
    http.post("/collections/shop/points/scroll",
              json={"filter": {"must": [{"key": "sku", "match": {"value": "a"}}]}})
    assert unindexed(http) == {}

    response = http.post("/collections/shop/points/query", json={
        "query": [1, 0, 0, 0],
        "filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}],
                   "should": [{"key": "price", "range": {"gte": 10, "lt": 20}}]},
        "prefetch": {"query": [0, 1, 0, 0], "filter": {"must_not": [
            {"nested": {"key": "tags", "filter": {"must": [
                {"key": "label", "match": {"text_any": "red"}}]}}}]}},
    })
    assert response.status_code == 200, response.text
    http.post("/collections/shop/points/count", json={"filter": {"must": [
        {"key": "at", "range": {"gt": "2026-01-01T00:00:00Z"}},
        {"key": "where", "geo_radius": {"center": {"lat": 1, "lon": 2}, "radius": 5}},
        {"key": "score", "range": {"lt": 0.5}},
        {"is_empty": {"key": "notes"}}]}})
    found = unindexed(http)
    expected = {"city": ["keyword"], "price": ["integer", "float"], "tags[].label": ["text"],
                "at": ["datetime"], "where": ["geo"], "score": ["float"]}
    assert set(found) == {f"UNINDEXED_FIELD:shop:{field}" for field in expected}
    for field, types in expected.items():
        solution = found[f"UNINDEXED_FIELD:shop:{field}"]["solution"]
        choices = solution["immediate_choice"] if len(types) > 1 else [solution["immediate"]]
        assert [c["action"]["body"] for c in choices] == [
            {"field_name": field, "field_schema": t} for t in types]
        assert all(c["action"]["method"] == "PUT"
                   and c["action"]["uri"] == "/collections/shop/index" for c in choices)

    # Taking the suggested action solves the issue; deleting the collection solves the rest.
    action = found["UNINDEXED_FIELD:shop:city"]["solution"]["immediate"]["action"]
    response = http.request(action["method"], action["uri"], json=action["body"])
    assert response.status_code == 200, response.text
    wait_for(lambda: "UNINDEXED_FIELD:shop:city" not in unindexed(http), 10, "city solved")
    assert len(unindexed(http)) == 5
    assert http.delete("/collections/shop").status_code == 200
    wait_for(lambda: unindexed(http) == {}, 10, "all solved with the collection gone")
