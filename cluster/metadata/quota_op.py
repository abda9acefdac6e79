"""The `set_quota {config}` metadata op: the cluster-wide quota config (node/quota), replaced
whole, as Qdrant's `PUT /quotas` does.

The config is checked again here, on every node, and not only by the API that proposed it:
a Raft entry is applied wherever it lands, and a limit of 0% would refuse every write forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.errors import BadRequest
from node.quota.config import parse_config

if TYPE_CHECKING:
    from cluster.metadata.state import MetadataState

SET_QUOTA = "set_quota"


def set_quota_op(config: dict) -> dict:
    return {"op": SET_QUOTA, "config": config}


def apply_set_quota(state: MetadataState, op: dict) -> bool:
    config = op.get("config")
    if not isinstance(config, dict):
        raise BadRequest(f"`config` is missing or has the wrong type in `{SET_QUOTA}`")
    state.quota = parse_config(config).to_json()
    return True
