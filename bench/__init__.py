"""Flotilla benchmark suite: real node processes over HTTP, with in-process anchors beside them."""
