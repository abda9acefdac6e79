"""The `qdrant.Snapshots` service: collection and full-storage snapshots, created, listed and
deleted by node.snapshots as the REST routes (node/api/snapshots.py) do. Qdrant's proto has
no shard-snapshot, download or recovery methods: those stay REST's."""

from __future__ import annotations

from qdrant_client import grpc as pb

from node.grpc import to_grpc
from node.grpc.calls import Rpc
from node.runtime import Node
from node.snapshots.service import Snapshots

_COLLECTION = "/collections/{collection_name}"


def rpcs(node: Node) -> dict[str, Rpc]:
    snapshots: Snapshots = node.snapshots

    def collection(name: str) -> str:
        """The collection an alias or name stands for, as REST's routes resolve it."""
        return node.catalog.resolve(name).name

    async def create(msg: pb.CreateSnapshotRequest, body, access) -> pb.CreateSnapshotResponse:
        made = await snapshots.create(collection(msg.collection_name))
        return pb.CreateSnapshotResponse(snapshot_description=to_grpc.snapshot(made))

    async def list_(msg: pb.ListSnapshotsRequest, body, access) -> pb.ListSnapshotsResponse:
        found = snapshots.list(collection(msg.collection_name))
        return pb.ListSnapshotsResponse(
            snapshot_descriptions=[to_grpc.snapshot(s) for s in found])

    async def delete(msg: pb.DeleteSnapshotRequest, body, access) -> pb.DeleteSnapshotResponse:
        snapshots.delete(collection(msg.collection_name), msg.snapshot_name)
        return pb.DeleteSnapshotResponse()

    async def create_full(msg, body, access) -> pb.CreateSnapshotResponse:
        return pb.CreateSnapshotResponse(
            snapshot_description=to_grpc.snapshot(await snapshots.create(None)))

    async def list_full(msg, body, access) -> pb.ListSnapshotsResponse:
        return pb.ListSnapshotsResponse(
            snapshot_descriptions=[to_grpc.snapshot(s) for s in snapshots.list(None)])

    async def delete_full(msg: pb.DeleteFullSnapshotRequest, body,
                          access) -> pb.DeleteSnapshotResponse:
        snapshots.delete(None, msg.snapshot_name)
        return pb.DeleteSnapshotResponse()

    return {
        "Create": Rpc(("POST", f"{_COLLECTION}/snapshots"), create),
        "List": Rpc(("GET", f"{_COLLECTION}/snapshots"), list_),
        "Delete": Rpc(("DELETE", f"{_COLLECTION}/snapshots/{{snapshot_name}}"), delete),
        "CreateFull": Rpc(("POST", "/snapshots"), create_full),
        "ListFull": Rpc(("GET", "/snapshots"), list_full),
        "DeleteFull": Rpc(("DELETE", "/snapshots/{snapshot_name}"), delete_full),
    }
