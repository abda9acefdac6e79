"""What the cluster agrees on: the metadata state machine's data and ops, the catalog of
collections, collection configs, payload schemas, placement, and the info views built from them."""
