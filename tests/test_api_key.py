"""`service.api_key`: requests need the key (api-key header or bearer token), as in Qdrant;
health probes stay open. Set through Qdrant's environment variable, as a deployment would."""

from __future__ import annotations

import warnings

import pytest
import requests
from nodeproc import NodeProcess
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp("keyed") / "storage", name="keyed",
                       env={"QDRANT__SERVICE__API_KEY": "s3cret"})
    node.start_and_wait()
    yield node
    node.stop()


def test_requests_need_the_key(secured):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client warns about a key over plain http
        client = QdrantClient(url=secured.url, api_key="s3cret")
        client.create_collection("k", vectors_config=models.VectorParams(size=2, distance="Dot"))
        assert client.collection_exists("k")
        with pytest.raises(UnexpectedResponse) as refused:
            QdrantClient(url=secured.url, api_key="wrong").get_collections()
    assert refused.value.status_code == 401
    anonymous = requests.get(f"{secured.url}/collections", timeout=5)
    assert anonymous.status_code == 401
    assert "API key" in anonymous.json()["status"]["error"]
    bearer = requests.get(f"{secured.url}/collections", timeout=5,
                          headers={"Authorization": "Bearer s3cret"})
    assert bearer.status_code == 200
    for probe in ("/healthz", "/livez", "/readyz"):
        assert requests.get(f"{secured.url}{probe}", timeout=5).status_code == 200
