"""From a request to the shards that answer it: point writes and reads, the query
planner and executor, facets, the distance matrix, strict mode and the collection views."""
