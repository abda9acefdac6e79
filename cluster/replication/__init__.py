"""A shard's replicas across nodes: replica sets (write quorum, read consistency),
writes to replicas, shard transfers, peers (client, health, liveness), the wire format between
nodes and this node's local shards."""
