"""The gRPC face: Qdrant's gRPC services answered through the REST face's entry points."""
