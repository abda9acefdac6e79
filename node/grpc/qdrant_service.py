"""The `qdrant.Qdrant` service: the health check, answered with the Qdrant version whose wire
format Flotilla speaks (what qdrant-client's compatibility check reads over gRPC)."""

from __future__ import annotations

from qdrant_client import grpc as pb

from node import QDRANT_API_VERSION
from node.grpc.calls import Rpc
from node.runtime import Node

TITLE = "flotilla - vector search engine"


def rpcs(node: Node) -> dict[str, Rpc]:
    async def health_check(msg, body, access) -> pb.HealthCheckReply:
        return pb.HealthCheckReply(title=TITLE, version=QDRANT_API_VERSION)

    # Open like REST's `GET /`: probes and version checks carry no credential.
    return {"HealthCheck": Rpc(None, health_check)}
