"""The API address a node gives its peers: never a wildcard bind address they cannot dial."""

from __future__ import annotations

import pytest

from node.runtime import Node
from node.settings import load_settings


@pytest.mark.parametrize("host, uri, advertised", [
    ("0.0.0.0", "http://flotilla-1.flotilla-headless:6335",
     "http://flotilla-1.flotilla-headless:6333"),
    ("::", "http://10.1.2.3:6335", "http://10.1.2.3:6333"),
    ("127.0.0.1", "http://127.0.0.1:6335", "http://127.0.0.1:6333"),
    ("10.9.9.9", "http://node-a:6335", "http://10.9.9.9:6333"),
])
def test_peers_are_told_an_address_they_can_dial(host: str, uri: str, advertised: str) -> None:
    settings = load_settings(None, {"FLOTILLA__CLUSTER__SECRET": "s"}, {
        "service.host": host, "cluster.enabled": True, "cluster.uri": uri})
    assert Node._api_address(settings) == advertised
