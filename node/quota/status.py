"""What `GET /quotas` answers (QuotaStatus) and what each peer reports about itself
(PeerQuotaUsage), gathered from every peer that answers in time."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.runtime import Node

log = logging.getLogger(__name__)

PEER_QUOTA_PATH = "/internal/v1/quota"
PEER_TIMEOUT_SECONDS = 2.0
_PEER_FIELDS = ("resident_memory_percent", "disk_usage_percent", "exceeded")


def peer_quota_usage(node: Node) -> dict:
    """This node's PeerQuotaUsage: its readings, and whether it refuses writes now."""
    return {**node.quota.usage(), "exceeded": any(node.quota.exceeded().values())}


async def quota_status(node: Node) -> dict:
    """The config in effect, this node's usage and, in a cluster, every answering peer's
    (keyed by peer id, this node included; a peer that does not answer is left out)."""
    status = {"config": node.quota.config().to_json(),
              "usage": await asyncio.to_thread(node.quota.usage)}
    if node.settings.cluster.enabled:
        status["peers"] = await _peers(node)
    return status


async def _peers(node: Node) -> dict[str, dict]:
    others = {pid: info["api"] for pid, info in node.catalog.state.peers.items()
              if pid != node.peer_id}

    async def ask(api: str) -> object:
        return await node.peer_client.get_json(api, PEER_QUOTA_PATH, timeout=PEER_TIMEOUT_SECONDS)

    answers = await asyncio.gather(*(ask(api) for api in others.values()),
                                   return_exceptions=True)
    peers = {str(node.peer_id): await asyncio.to_thread(peer_quota_usage, node)}
    for peer_id, answer in zip(others, answers, strict=True):
        if isinstance(answer, dict):
            peers[str(peer_id)] = {key: answer.get(key) for key in _PEER_FIELDS}
        else:
            log.info("peer %s did not report its quota usage: %s", peer_id, answer)
    return peers
