"""Node resource quotas (Qdrant 1.19's `/quotas`): limits on this node's resident memory and
on the fill of the filesystem holding its storage, past which writes that would store more
are refused (507) while reads and point deletes go on.

The config is cluster-wide, agreed through Raft (cluster/metadata/quota_op.py) and falling
back to `storage.quotas` from the node's settings until it is first set through the API; the
readings and the verdict are this node's own (node/quota/guard.py).
"""
