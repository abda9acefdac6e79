"""Flotilla's errors as gRPC status codes, mapped the way Qdrant maps its HTTP statuses."""

from __future__ import annotations

import grpc

from node.errors import FlotillaError

BY_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    507: grpc.StatusCode.RESOURCE_EXHAUSTED,  # a node over its quota (node/quota)
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_of(error: FlotillaError) -> grpc.StatusCode:
    return BY_HTTP_STATUS.get(error.status, grpc.StatusCode.INTERNAL)
