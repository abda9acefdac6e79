"""The `qdrant.Collections` service: collections, their aliases and cluster info."""

from __future__ import annotations

from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import RestToGrpc
from qdrant_client.http import models

from cluster.metadata.cluster_info import (
    collection_cluster_info,
    shard_keys_listing,
    shard_operation,
)
from node.errors import NotFound
from node.grpc import to_grpc, to_rest
from node.grpc.calls import Rpc
from node.model.aliases import ChangeAliasesRequest
from node.model.cluster_ops import ClusterOperation
from node.model.collections import CreateCollection, UpdateCollection
from node.model.shard_keys import CreateShardingKey, DropShardingKey
from node.runtime import Node

_COLLECTION = "/collections/{collection_name}"


def rpcs(node: Node) -> dict[str, Rpc]:
    catalog = node.catalog

    async def get(msg: pb.GetCollectionInfoRequest, body, access) -> pb.GetCollectionInfoResponse:
        info = await node.collection_info(msg.collection_name)
        return pb.GetCollectionInfoResponse(result=to_grpc.collection_info(info))

    async def list_(msg, body, access) -> pb.ListCollectionsResponse:
        names = [n for n in catalog.list_names() if access.can_read(n)]
        return pb.ListCollectionsResponse(
            collections=[pb.CollectionDescription(name=n) for n in names])

    async def create(msg: pb.CreateCollection, body, access) -> pb.CollectionOperationResponse:
        await node.create_collection(msg.collection_name, body)
        return pb.CollectionOperationResponse(result=True)

    async def update(msg: pb.UpdateCollection, body, access) -> pb.CollectionOperationResponse:
        await catalog.update(msg.collection_name, body)
        return pb.CollectionOperationResponse(result=True)

    async def delete(msg: pb.DeleteCollection, body, access) -> pb.CollectionOperationResponse:
        return pb.CollectionOperationResponse(result=await catalog.delete(msg.collection_name))

    async def update_aliases(msg, body, access) -> pb.CollectionOperationResponse:
        await catalog.change_aliases(body)
        return pb.CollectionOperationResponse(result=True)

    async def collection_aliases(msg, body, access) -> pb.ListAliasesResponse:
        aliases = catalog.aliases(msg.collection_name)
        return pb.ListAliasesResponse(aliases=[to_grpc.alias_description(a) for a in aliases])

    async def all_aliases(msg, body, access) -> pb.ListAliasesResponse:
        aliases = [a for a in catalog.aliases() if access.can_read(a["collection_name"])]
        return pb.ListAliasesResponse(aliases=[to_grpc.alias_description(a) for a in aliases])

    async def exists(msg: pb.CollectionExistsRequest, body, access) -> pb.CollectionExistsResponse:
        try:
            catalog.resolve(msg.collection_name)
        except NotFound:
            return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=False))
        return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=True))

    async def cluster_info(msg, body, access) -> pb.CollectionClusterInfoResponse:
        meta = catalog.resolve(msg.collection_name)
        local = {sid: shard.count() for sid, shard in node.shards.of_collection(meta).items()}
        info = collection_cluster_info(meta, node.peer_id, local)
        return RestToGrpc.convert_collection_cluster_info(
            models.CollectionClusterInfo.model_validate(info))

    async def cluster_setup(msg: pb.UpdateCollectionClusterSetupRequest, body,
                            access) -> pb.UpdateCollectionClusterSetupResponse:
        meta = catalog.resolve(msg.collection_name)
        await catalog.propose(shard_operation(meta, body))
        return pb.UpdateCollectionClusterSetupResponse(result=True)

    async def create_shard_key(msg: pb.CreateShardKeyRequest, body: CreateShardingKey,
                               access) -> pb.CreateShardKeyResponse:
        meta = catalog.resolve(msg.collection_name)
        await catalog.propose(body.op(meta.name))
        return pb.CreateShardKeyResponse(result=True)

    async def delete_shard_key(msg: pb.DeleteShardKeyRequest, body: DropShardingKey,
                               access) -> pb.DeleteShardKeyResponse:
        meta = catalog.resolve(msg.collection_name)
        await catalog.propose(body.op(meta.name))
        return pb.DeleteShardKeyResponse(result=True)

    async def list_shard_keys(msg: pb.ListShardKeysRequest, body,
                              access) -> pb.ListShardKeysResponse:
        listed = shard_keys_listing(catalog.resolve(msg.collection_name))["shard_keys"] or []
        return pb.ListShardKeysResponse(shard_keys=[
            pb.ShardKeyDescription(key=RestToGrpc.convert_shard_key(entry["key"]))
            for entry in listed])

    return {
        "CreateShardKey": Rpc(("PUT", f"{_COLLECTION}/shards"), create_shard_key,
                              to_rest.create_shard_key, CreateShardingKey),
        "DeleteShardKey": Rpc(("POST", f"{_COLLECTION}/shards/delete"), delete_shard_key,
                              to_rest.delete_shard_key, DropShardingKey),
        "ListShardKeys": Rpc(("GET", f"{_COLLECTION}/shards"), list_shard_keys),
        "Get": Rpc(("GET", _COLLECTION), get),
        "List": Rpc(("GET", "/collections"), list_),
        "Create": Rpc(("PUT", _COLLECTION), create, to_rest.create_collection,
                      CreateCollection),
        "Update": Rpc(("PATCH", _COLLECTION), update, to_rest.update_collection,
                      UpdateCollection),
        "Delete": Rpc(("DELETE", _COLLECTION), delete),
        "UpdateAliases": Rpc(("POST", "/collections/aliases"), update_aliases,
                             to_rest.change_aliases, ChangeAliasesRequest),
        "ListCollectionAliases": Rpc(("GET", f"{_COLLECTION}/aliases"), collection_aliases),
        "ListAliases": Rpc(("GET", "/aliases"), all_aliases),
        "CollectionExists": Rpc(("GET", f"{_COLLECTION}/exists"), exists),
        "CollectionClusterInfo": Rpc(("GET", f"{_COLLECTION}/cluster"), cluster_info),
        "UpdateCollectionClusterSetup": Rpc(("POST", f"{_COLLECTION}/cluster"), cluster_setup,
                                            to_rest.cluster_operation, ClusterOperation),
    }
