"""Performance issues and configuration suggestions, served at `GET /issues` as Qdrant does."""
