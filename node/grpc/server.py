"""The gRPC face: grpcio's asyncio server on `service.grpc_port`, in the REST face's process
and event loop, serving Qdrant's `Qdrant`, `Collections`, `Points` and `Snapshots` services.

The services and messages are the ones qdrant-client ships, generated from Qdrant's protos;
every method of them is registered, and one Flotilla does not serve answers UNIMPLEMENTED
saying so (rather than grpcio's bare "Method not found").
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from qdrant_client.grpc import (
    collections_service_pb2,
    points_service_pb2,
    qdrant_pb2,
    snapshots_service_pb2,
)

from node.grpc import collections_service, points_service, qdrant_service, snapshots_service
from node.grpc.calls import Calls, Rpc
from node.runtime import Node

log = logging.getLogger(__name__)

# Why each unserved part is unserved, for the UNIMPLEMENTED message.
NOT_SERVED: dict[str, str] = {}
NOT_SERVED_DEFAULT = "Flotilla does not serve this method (neither over REST)"
# Messages as large as REST's max_request_size_mb, both ways (grpcio's default is 4 MiB).
MIB = 1024 * 1024


def _services(node: Node) -> list[tuple[ServiceDescriptor, dict[str, Rpc]]]:
    return [
        (qdrant_pb2.DESCRIPTOR.services_by_name["Qdrant"], qdrant_service.rpcs(node)),
        (collections_service_pb2.DESCRIPTOR.services_by_name["Collections"],
         collections_service.rpcs(node)),
        (points_service_pb2.DESCRIPTOR.services_by_name["Points"], points_service.rpcs(node)),
        (snapshots_service_pb2.DESCRIPTOR.services_by_name["Snapshots"],
         snapshots_service.rpcs(node)),
    ]


def _not_served(reason: str):
    async def refuse(request, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, reason)

    return refuse


def _generic_handler(calls: Calls, service: ServiceDescriptor,
                     rpcs: dict[str, Rpc]) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in service.methods:
        full = f"/{service.full_name}/{method.name}"
        rpc = rpcs.get(method.name)
        if rpc is not None:
            behaviour = calls.handler(full, rpc)
        else:
            reason = NOT_SERVED.get(f"{service.full_name}/{method.name}") or NOT_SERVED.get(
                service.full_name, NOT_SERVED_DEFAULT)
            behaviour = _not_served(f"{method.name}: {reason}")
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=GetMessageClass(method.input_type).FromString,
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _credentials(node: Node) -> grpc.ServerCredentials:
    """The REST port's certificate and key; with mutual TLS on REST, clients need one too."""
    files = node.settings.tls
    chain = [(Path(files.key).read_bytes(), Path(files.cert).read_bytes())]
    verify = node.settings.service.verify_https_client_certificate
    ca = Path(files.ca_cert).read_bytes() if verify and files.ca_cert else None
    return grpc.ssl_server_credentials(chain, root_certificates=ca,
                                       require_client_auth=ca is not None)


def bind(node: Node) -> grpc.aio.Server | None:
    """The gRPC server with its port bound, or None when `service.grpc_port` is null. Bound as
    the node starts, like the Raft port: the node's own outgoing connections while it starts
    could otherwise take the port as their local port."""
    service = node.settings.service
    if service.grpc_port is None:
        return None
    max_bytes = service.max_request_size_mb * MIB
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_concurrent_streams", service.max_connections),
        ("grpc.so_reuseport", 0),  # a second node on the same port must fail, not share it
    ])
    calls = Calls(node)
    server.add_generic_rpc_handlers(
        [_generic_handler(calls, desc, rpcs) for desc, rpcs in _services(node)])
    host = f"[{service.host}]" if ":" in service.host else service.host
    address = f"{host}:{service.grpc_port}"
    try:
        if service.enable_tls:
            bound = server.add_secure_port(address, _credentials(node))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises when the port is taken
        bound = 0
    if not bound:
        raise OSError(f"cannot listen for gRPC on {address}: is the port in use?")
    return server


async def start(server: grpc.aio.Server, node: Node) -> None:
    await server.start()
    log.info("serving the Qdrant gRPC API on port %s", node.settings.service.grpc_port)
