"""The `qdrant.Points` service: point writes, reads and queries, through the REST face's
entry points (node.points, node.queries, node.catalog) with the REST body of each request."""

from __future__ import annotations

from qdrant_client import grpc as pb

from cluster.routing.facet_router import FacetRouter
from cluster.routing.matrix_router import MatrixRouter
from node.grpc import to_grpc, to_rest
from node.grpc.calls import Rpc
from node.model import points as P
from node.model import queries as Q
from node.model.aggregates import FacetRequest, MatrixRequest
from node.model.collections import VectorNameConfig
from node.model.payload_index import CreateIndexRequest
from node.model.selectors import payload_selector
from node.runtime import Node

_COLLECTION = "/collections/{collection_name}"
_POINTS = f"{_COLLECTION}/points"


def _batch_results(batches) -> list[pb.BatchResult]:
    """One BatchResult of scored points per search of a batch."""
    return [pb.BatchResult(result=[to_grpc.scored_point(h) for h in hits]) for hits in batches]


def _update_result(seq: int, wait: bool) -> dict:
    return {"operation_id": seq, "status": "completed" if wait else "acknowledged"}


def rpcs(node: Node) -> dict[str, Rpc]:
    router = node.points
    queries = node.queries
    catalog = node.catalog
    # Built as node/api/facet_matrix.py builds them for REST: stateless over the node's views.
    facets = FacetRouter(node.views, node.rate_limiter)
    matrix = MatrixRouter(node.views, node.rate_limiter)

    async def upsert(msg: pb.UpsertPoints, body, access) -> pb.PointsOperationResponse:
        seq = await router.upsert(msg.collection_name, body, wait=msg.wait)
        return pb.PointsOperationResponse(result=to_grpc.update_result(
            _update_result(seq, msg.wait)))

    def update(kind: str):
        async def answer(msg, body, access) -> pb.PointsOperationResponse:
            seq = await router.update(msg.collection_name, kind, body, wait=msg.wait)
            return pb.PointsOperationResponse(result=to_grpc.update_result(
                _update_result(seq, msg.wait)))

        return answer

    async def batch(msg: pb.UpdateBatchPoints, body, access) -> pb.UpdateBatchResponse:
        seqs = await router.batch(msg.collection_name, body, wait=msg.wait)
        return pb.UpdateBatchResponse(
            result=[to_grpc.update_result(_update_result(s, msg.wait)) for s in seqs])

    async def get(msg: pb.GetPoints, body, access) -> pb.GetResponse:
        records = await router.retrieve(
            msg.collection_name, body.ids,
            with_payload=payload_selector(True if body.with_payload is None
                                          else body.with_payload),
            with_vector=body.with_vector or False, shard_key=body.shard_key)
        return pb.GetResponse(result=[to_grpc.retrieved_point(r) for r in records])

    async def scroll(msg: pb.ScrollPoints, body, access) -> pb.ScrollResponse:
        page = await router.scroll(msg.collection_name, body)
        out = pb.ScrollResponse(result=[to_grpc.retrieved_point(r) for r in page["points"]])
        if page.get("next_page_offset") is not None:
            out.next_page_offset.CopyFrom(to_grpc.point_id(page["next_page_offset"]))
        return out

    async def count(msg: pb.CountPoints, body, access) -> pb.CountResponse:
        total = await router.count(msg.collection_name, body)
        return pb.CountResponse(result=pb.CountResult(count=total))

    async def create_index(msg, body, access) -> pb.PointsOperationResponse:
        await catalog.create_payload_index(msg.collection_name, body)
        return pb.PointsOperationResponse(result=to_grpc.update_result(
            {"operation_id": catalog.state.version, "status": "completed"}))

    async def drop_index(msg, body, access) -> pb.PointsOperationResponse:
        await catalog.drop_payload_index(msg.collection_name, msg.field_name)
        return pb.PointsOperationResponse(result=to_grpc.update_result(
            {"operation_id": catalog.state.version, "status": "completed"}))

    async def create_vector(msg: pb.CreateVectorNameRequest, body, access):
        version = await catalog.add_vector(msg.collection_name, msg.vector_name, body)
        return pb.PointsOperationResponse(result=to_grpc.update_result(
            {"operation_id": version, "status": "completed"}))

    async def delete_vector(msg: pb.DeleteVectorNameRequest, body, access):
        version = await catalog.remove_vector(msg.collection_name, msg.vector_name)
        return pb.PointsOperationResponse(result=to_grpc.update_result(
            {"operation_id": version, "status": "completed"}))

    async def search(msg: pb.SearchPoints, body, access) -> pb.SearchResponse:
        hits = await queries.search(msg.collection_name, body)
        return pb.SearchResponse(result=[to_grpc.scored_point(h) for h in hits])

    async def search_batch(msg, body, access) -> pb.SearchBatchResponse:
        batches = await queries.search_batch(msg.collection_name, body)
        return pb.SearchBatchResponse(result=_batch_results(batches))

    async def recommend(msg: pb.RecommendPoints, body, access) -> pb.RecommendResponse:
        hits = await queries.recommend(msg.collection_name, body)
        return pb.RecommendResponse(result=[to_grpc.scored_point(h) for h in hits])

    async def recommend_batch(msg, body, access) -> pb.RecommendBatchResponse:
        batches = await queries.recommend_batch(msg.collection_name, body)
        return pb.RecommendBatchResponse(result=_batch_results(batches))

    async def query(msg: pb.QueryPoints, body, access) -> pb.QueryResponse:
        result = await queries.query(msg.collection_name, body)
        return pb.QueryResponse(result=[to_grpc.scored_point(h) for h in result["points"]])

    async def query_batch(msg, body, access) -> pb.QueryBatchResponse:
        results = await queries.query_batch(msg.collection_name, body)
        return pb.QueryBatchResponse(result=_batch_results(r["points"] for r in results))

    async def query_groups(msg, body, access) -> pb.QueryGroupsResponse:
        result = await queries.query_groups(msg.collection_name, body)
        return pb.QueryGroupsResponse(result=to_grpc.groups_result(result))

    async def search_groups(msg, body, access) -> pb.SearchGroupsResponse:
        result = await queries.query_groups(msg.collection_name, body)
        return pb.SearchGroupsResponse(result=to_grpc.groups_result(result))

    async def recommend_groups(msg, body, access) -> pb.RecommendGroupsResponse:
        result = await queries.query_groups(msg.collection_name, body)
        return pb.RecommendGroupsResponse(result=to_grpc.groups_result(result))

    async def discover(msg: pb.DiscoverPoints, body, access) -> pb.DiscoverResponse:
        result = await queries.query(msg.collection_name, body)
        return pb.DiscoverResponse(result=[to_grpc.scored_point(h) for h in result["points"]])

    async def discover_batch(msg, body, access) -> pb.DiscoverBatchResponse:
        results = await queries.query_batch(msg.collection_name, body)
        return pb.DiscoverBatchResponse(result=_batch_results(r["points"] for r in results))

    async def facet(msg: pb.FacetCounts, body, access) -> pb.FacetResponse:
        result = await facets.facet(msg.collection_name, body)
        return pb.FacetResponse(hits=to_grpc.facet_hits(result))

    async def matrix_pairs(msg, body, access) -> pb.SearchMatrixPairsResponse:
        result = await matrix.pairs(msg.collection_name, body)
        return pb.SearchMatrixPairsResponse(result=to_grpc.matrix_pairs(result))

    async def matrix_offsets(msg, body, access) -> pb.SearchMatrixOffsetsResponse:
        result = await matrix.offsets(msg.collection_name, body)
        return pb.SearchMatrixOffsetsResponse(result=to_grpc.matrix_offsets(result))

    def write(path: str, method: str = "POST") -> tuple[str, str]:
        return (method, f"{_POINTS}{path}")

    def read(path: str) -> tuple[str, str]:
        return ("POST", f"{_POINTS}{path}")

    return {
        "Upsert": Rpc(write("", "PUT"), upsert, to_rest.upsert, P.UpsertRequest),
        "Delete": Rpc(write("/delete"), update("delete"), to_rest.delete_points,
                      P.REQUEST_OF["delete"]),
        "UpdateVectors": Rpc(write("/vectors", "PUT"), update("update_vectors"),
                             to_rest.update_vectors, P.REQUEST_OF["update_vectors"]),
        "DeleteVectors": Rpc(write("/vectors/delete"), update("delete_vectors"),
                             to_rest.delete_vectors, P.REQUEST_OF["delete_vectors"]),
        "SetPayload": Rpc(write("/payload"), update("set_payload"), to_rest.set_payload,
                          P.REQUEST_OF["set_payload"]),
        "OverwritePayload": Rpc(write("/payload", "PUT"), update("overwrite_payload"),
                                to_rest.set_payload, P.REQUEST_OF["overwrite_payload"]),
        "DeletePayload": Rpc(write("/payload/delete"), update("delete_payload"),
                             to_rest.delete_payload, P.REQUEST_OF["delete_payload"]),
        "ClearPayload": Rpc(write("/payload/clear"), update("clear_payload"),
                            to_rest.clear_payload, P.REQUEST_OF["clear_payload"]),
        "UpdateBatch": Rpc(write("/batch"), batch, to_rest.update_batch, P.BatchRequest),
        "CreateFieldIndex": Rpc(("PUT", f"{_COLLECTION}/index"), create_index,
                                to_rest.create_field_index, CreateIndexRequest),
        "DeleteFieldIndex": Rpc(("DELETE", f"{_COLLECTION}/index/{{field_name}}"), drop_index),
        "CreateVectorName": Rpc(("PUT", f"{_COLLECTION}/vectors/{{vector_name}}"),
                                create_vector, to_rest.vector_name_config, VectorNameConfig),
        "DeleteVectorName": Rpc(("DELETE", f"{_COLLECTION}/vectors/{{vector_name}}"),
                                delete_vector),
        "Get": Rpc(read(""), get, to_rest.get_points, Q.RetrieveRequest),
        "Scroll": Rpc(read("/scroll"), scroll, to_rest.scroll, Q.ScrollRequest),
        "Count": Rpc(read("/count"), count, to_rest.count, Q.CountRequest),
        "Search": Rpc(read("/search"), search, to_rest.search, Q.SearchRequest),
        "SearchBatch": Rpc(read("/search/batch"), search_batch, to_rest.search_batch,
                           Q.SearchBatchRequest),
        "Recommend": Rpc(read("/recommend"), recommend, to_rest.recommend,
                         Q.RecommendRequest),
        "RecommendBatch": Rpc(read("/recommend/batch"), recommend_batch,
                              to_rest.recommend_batch, Q.RecommendBatchRequest),
        "Query": Rpc(read("/query"), query, to_rest.query, Q.QueryRequest),
        "QueryBatch": Rpc(read("/query/batch"), query_batch, to_rest.query_batch,
                          Q.QueryBatchRequest),
        "QueryGroups": Rpc(read("/query/groups"), query_groups, to_rest.query_groups,
                           Q.QueryGroupsRequest),
        # Legacy methods, answered as the query API's equivalents (REST serves only those).
        "SearchGroups": Rpc(read("/search/groups"), search_groups, to_rest.search_groups,
                            Q.QueryGroupsRequest),
        "RecommendGroups": Rpc(read("/recommend/groups"), recommend_groups,
                               to_rest.recommend_groups, Q.QueryGroupsRequest),
        "Discover": Rpc(read("/discover"), discover, to_rest.discover, Q.QueryRequest),
        "DiscoverBatch": Rpc(read("/discover/batch"), discover_batch, to_rest.discover_batch,
                             Q.QueryBatchRequest),
        "Facet": Rpc(("POST", f"{_COLLECTION}/facet"), facet, to_rest.facet, FacetRequest),
        "SearchMatrixPairs": Rpc(read("/search/matrix/pairs"), matrix_pairs,
                                 to_rest.search_matrix, MatrixRequest),
        "SearchMatrixOffsets": Rpc(read("/search/matrix/offsets"), matrix_offsets,
                                   to_rest.search_matrix, MatrixRequest),
    }
