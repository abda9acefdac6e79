"""`GET /issues` and `DELETE /issues` on a real node: Qdrant's issue records, opened and solved
as collections come and go, and cleared by an operator."""

from __future__ import annotations

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
