"""NodeMetrics: HTTP middleware labels, scrape-time collection gauges, optimizer counters."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from node.api.metrics import NodeMetrics


def samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def make_app(metrics: NodeMetrics) -> web.Application:
    async def get_collection(request: web.Request) -> web.Response:
        if request.match_info["collection_name"] == "missing":
            raise web.HTTPNotFound(text="no such collection")
        return web.json_response({"result": request.match_info["collection_name"]})

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("handler bug")

    app = web.Application(middlewares=[metrics.middleware])
    app.router.add_get("/collections/{collection_name}", get_collection)
    app.router.add_get("/boom", boom)
    app.router.add_get("/metrics", metrics.handle_metrics)
    return app


async def test_middleware_labels_by_route_template() -> None:
    metrics = NodeMetrics()
    async with TestClient(TestServer(make_app(metrics))) as client:
        for name in ("a", "b", "c"):
            assert (await client.get(f"/collections/{name}")).status == 200
        assert (await client.get("/collections/missing")).status == 404
        assert (await client.get("/no/such/route/42")).status == 404
        assert (await client.post("/collections/a")).status == 405
        assert (await client.get("/boom")).status == 500
        scrape = await client.get("/metrics")
        assert scrape.status == 200
        text = await scrape.text()

    template = "/collections/{collection_name}"
    assert f'endpoint="{template}"' in text
    # Raw paths never become label values.
    assert "/collections/a" not in text and "/no/such/route" not in text

    got = samples(metrics)
    total = "flotilla_http_requests_total"
    lbl = (("endpoint", template), ("method", "GET"))
    assert got[(total, (*lbl, ("status", "200")))] == 3
    assert got[(total, (*lbl, ("status", "404")))] == 1
    assert got[(total, (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")))] == 1
    assert got[(total, (("endpoint", "unmatched"), ("method", "POST"), ("status", "405")))] == 1
    assert got[(total, (("endpoint", "/boom"), ("method", "GET"), ("status", "500")))] == 1
    assert got[("flotilla_http_request_duration_seconds_count", (*lbl, ("status", "200")))] == 3


async def test_stats_source_is_read_at_each_scrape() -> None:
    metrics = NodeMetrics()
    got = samples(metrics)
    assert got[("flotilla_collections", ())] == 0  # no source yet: zero, not an error

    stats = {"books": 10, "films": 3}
    metrics.set_stats_source(lambda: dict(stats))
    got = samples(metrics)
    assert got[("flotilla_collections", ())] == 2
    assert got[("flotilla_points", (("collection", "books"),))] == 10
    assert got[("flotilla_points", (("collection", "films"),))] == 3

    stats["books"] = 11
    del stats["films"]
    got = samples(metrics)
    assert got[("flotilla_collections", ())] == 1
    assert got[("flotilla_points", (("collection", "books"),))] == 11
    assert ("flotilla_points", (("collection", "films"),)) not in got


def test_failing_stats_source_does_not_break_scrape() -> None:
    metrics = NodeMetrics()

    def broken() -> dict[str, int]:
        raise RuntimeError("storage busy")

    metrics.set_stats_source(broken)
    metrics.optimizer_run("books", "merge", 0)
    got = samples(metrics)
    assert ("flotilla_collections", ()) not in got
    assert got[("flotilla_optimizer_runs_total", (("collection", "books"), ("kind", "merge")))]


def test_optimizer_counters() -> None:
    metrics = NodeMetrics()
    metrics.optimizer_run("books", "vacuum", 10)
    metrics.optimizer_run("books", "vacuum", 5)
    metrics.optimizer_run("books", "indexing", 7)
    metrics.optimizer_run("films", "vacuum", 0)
    got = samples(metrics)
    name = "flotilla_optimizer_runs_total"
    assert got[(name, (("collection", "books"), ("kind", "vacuum")))] == 2
    assert got[(name, (("collection", "books"), ("kind", "indexing")))] == 1
    assert got[(name, (("collection", "films"), ("kind", "vacuum")))] == 1
    inserted = "flotilla_optimizer_graph_insertions_total"
    assert got[(inserted, (("collection", "books"), ("kind", "vacuum")))] == 15
    assert got[(inserted, (("collection", "books"), ("kind", "indexing")))] == 7


def test_registries_are_per_instance_and_include_process_metrics() -> None:
    first, second = NodeMetrics(), NodeMetrics()  # would clash on the global registry
    first.optimizer_run("x", "merge", 1)
    assert ("flotilla_optimizer_runs_total", (("collection", "x"), ("kind", "merge"))) not in (
        samples(second)
    )
    body, _ = first.render()
    assert b"process_cpu_seconds_total" in body  # Linux: read from /proc
    assert b"process_" not in NodeMetrics(process_metrics=False).render()[0]
