"""What the cluster holds once the faults healed, read from every node and every replica.

Replicas are read one by one through the internal API (`scan` on that node's local copy), so a
replica that differs from its siblings is seen even when reads through the public API would
hide it behind another replica. Public reads (scroll with `consistency=all`, per-node scroll,
counts) are read through every node.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import requests

from chaos.context import RunContext
from chaos.nodes import CLUSTER_SECRET, SECRET_HEADER, ChaosNode
from cluster.replication.wire import CONTENT_TYPE, decode, encode

SCROLL_PAGE = 2000


@dataclass
class CollectionState:
    # shard id -> peer id -> point id -> digest of (payload, vectors)
    replicas: dict[int, dict[int, dict[int | str, str]]] = field(default_factory=dict)
    replica_errors: list[str] = field(default_factory=list)
    # node index -> ids in scroll order, read through that node (default consistency)
    scrolls: dict[int, list] = field(default_factory=dict)
    # node index -> ids read with consistency=all through that node
    scrolls_all: dict[int, list] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    # node index -> (count with the indexed `tag`, count with the unindexed `tag_copy`)
    filtered_counts: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class FinalState:
    metadata: dict[int, dict] = field(default_factory=dict)  # node index -> what it says
    collections: dict[str, CollectionState] = field(default_factory=dict)
    unreachable: list[int] = field(default_factory=list)
    # Replicas anti-entropy found different during the run, from the node logs
    # (chaos/convergence.py): collection, shard, peer, points (ids, or None when not listed)
    repairs: list[dict] = field(default_factory=list)


def _digest(record: object) -> tuple[int | str, str]:
    """(id, digest) of one record as the internal API returns it."""
    point_id, rest = _split_record(record)
    canonical = orjson.dumps(_plain(rest), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return point_id, hashlib.sha1(canonical).hexdigest()[:16]


def _split_record(record: object) -> tuple[int | str, object]:
    if isinstance(record, dict):
        return record["id"], {k: v for k, v in record.items() if k != "id"}
    if isinstance(record, tuple | list):
        return record[0], list(record[1:])
    fields = vars(record)
    return fields["id"], {k: v for k, v in fields.items() if k != "id"}


def _plain(value: object) -> object:
    """Arrays as rounded lists, tuples as lists: something orjson writes the same every time."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def read_replica(node: ChaosNode, uuid: str, shard_id: int) -> dict[int | str, str]:
    body = encode({"args": [None], "kwargs": {}})
    response = requests.post(f"{node.url}/internal/v1/shards/{uuid}/{shard_id}/scan", data=body,
                             headers={SECRET_HEADER: CLUSTER_SECRET,
                                      "Content-Type": CONTENT_TYPE}, timeout=30)
    response.raise_for_status()
    return dict(_digest(r) for r in decode(response.content))


def metadata_of(node: ChaosNode) -> dict | None:
    """Collections, aliases, placement and replica states, peers and leader, as `node` says."""
    cluster = node.get("/cluster", timeout=5)
    listing = node.get("/collections", timeout=5)
    aliases = node.get("/aliases", timeout=5)
    if cluster is None or listing is None or aliases is None:
        return None
    names = sorted(c["name"] for c in listing["collections"])
    placement = {}
    for name in names:
        info = node.get(f"/collections/{name}/cluster", timeout=5)
        if info is None:
            return None
        shards: dict[str, dict[str, str]] = {}
        for local in info["local_shards"]:
            shards.setdefault(str(local["shard_id"]), {})[str(info["peer_id"])] = local["state"]
        for remote in info["remote_shards"]:
            shards.setdefault(str(remote["shard_id"]), {})[str(remote["peer_id"])] = \
                remote["state"]
        placement[name] = {"shards": shards, "transfers": len(info["shard_transfers"])}
    placement = {name: {"shards": {s: dict(sorted(r.items())) for s, r in
                                   sorted(p["shards"].items())}, "transfers": p["transfers"]}
                 for name, p in placement.items()}
    return {
        "collections": names,
        "aliases": sorted((a["alias_name"], a["collection_name"]) for a in aliases["aliases"]),
        "placement": placement,
        "peers": sorted(cluster["peers"]),
        "leader": cluster["raft_info"]["leader"],
    }


def _scroll_ids(client, collection: str, consistency=None) -> list:
    ids, offset = [], None
    while True:
        points, offset = client.scroll(collection, limit=SCROLL_PAGE, offset=offset,
                                       with_payload=False, with_vectors=False,
                                       consistency=consistency)
        ids.extend(p.id for p in points)
        if offset is None:
            return ids


def collect(ctx: RunContext, data_collections: list[str], clients) -> FinalState:
    from qdrant_client import models

    state = FinalState()
    for node in ctx.member_nodes():
        meta = metadata_of(node)
        if meta is None:
            state.unreachable.append(node.index)
        else:
            state.metadata[node.index] = meta
    for name in data_collections:
        cstate = CollectionState()
        state.collections[name] = cstate
        info = next((n.get(f"/internal/v1/collections/{name}") for n in ctx.member_nodes()
                     if n.index in state.metadata), None)
        if info is None:
            cstate.replica_errors.append(f"{name}: no node knows the collection")
            continue
        for shard, replicas in info["shards"].items():
            for peer in replicas:
                node = ctx.nodes.by_peer_id(int(peer))
                try:
                    if node is None:
                        raise RuntimeError("no node has this peer id")
                    cstate.replicas.setdefault(int(shard), {})[int(peer)] = read_replica(
                        node, info["uuid"], int(shard))
                except (requests.RequestException, RuntimeError, ValueError) as exc:
                    cstate.replica_errors.append(f"shard {shard} on peer {peer}: {exc}")
        tag = models.Filter(must=[models.FieldCondition(key="tag",
                                                        match=models.MatchValue(value="t1"))])
        tag_copy = models.Filter(must=[models.FieldCondition(
            key="tag_copy", match=models.MatchValue(value="t1"))])
        for node in ctx.member_nodes():
            if node.index not in state.metadata:
                continue
            client = clients.get("checker", node.index)
            try:
                cstate.scrolls[node.index] = _scroll_ids(client, name)
                cstate.scrolls_all[node.index] = _scroll_ids(
                    client, name, models.ReadConsistencyType.ALL)
                cstate.counts[node.index] = client.count(name, exact=True).count
                cstate.filtered_counts[node.index] = (
                    client.count(name, count_filter=tag, exact=True).count,
                    client.count(name, count_filter=tag_copy, exact=True).count)
            except Exception as exc:  # noqa: BLE001 - a node that cannot answer is a finding
                cstate.replica_errors.append(f"reads through node {node.index}: {exc}")
    return state


def save(final: FinalState, path: Path) -> None:
    path.write_bytes(orjson.dumps(asdict(final), option=orjson.OPT_NON_STR_KEYS))


def _point_id(key: str) -> int | str:
    return int(key) if key.isdigit() else key


def load(path: Path) -> FinalState:
    """The final state `save` wrote (JSON object keys back to shard, peer, node and point ids)."""
    raw = orjson.loads(path.read_bytes())
    final = FinalState(metadata={int(k): v for k, v in raw["metadata"].items()},
                       unreachable=raw["unreachable"], repairs=raw.get("repairs", []))
    for name, c in raw["collections"].items():
        final.collections[name] = CollectionState(
            replicas={int(s): {int(p): {_point_id(i): d for i, d in content.items()}
                               for p, content in peers.items()}
                      for s, peers in c["replicas"].items()},
            replica_errors=c["replica_errors"],
            scrolls={int(n): ids for n, ids in c["scrolls"].items()},
            scrolls_all={int(n): ids for n, ids in c["scrolls_all"].items()},
            counts={int(n): v for n, v in c["counts"].items()},
            filtered_counts={int(n): tuple(v) for n, v in c["filtered_counts"].items()})
    return final
