"""What the nodes of a Flotilla cluster agree on, and how requests reach the right replicas."""
