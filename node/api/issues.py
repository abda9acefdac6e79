"""Routes of `GET /issues` (open performance issues and suggestions) and `DELETE /issues`."""

from __future__ import annotations

from aiohttp import web

from node.api.envelope import ok
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    async def list_issues(request: web.Request) -> web.Response:
        return ok(request, {"issues": node.issues.all()})

    async def clear_issues(request: web.Request) -> web.Response:
        node.issues.clear()
        return ok(request, True)

    return [web.get("/issues", list_issues), web.delete("/issues", clear_issues)]
