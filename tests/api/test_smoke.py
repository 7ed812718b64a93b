"""A first pass over the core cycle; the detailed tests live beside this file."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio

TOLVAN = {
    "resourceType": "Patient",
    "identifier": [
        {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}
    ],
    "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
}


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/Patient", json=TOLVAN, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    pid = body["id"]
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"] == f"http://test/fhir/Patient/{pid}/_history/1"
    assert body["meta"]["versionId"] == "1"

    read = await client.get(f"/Patient/{pid}")
    assert read.status_code == 200
    assert read.json() == body

    body["active"] = True
    updated = await client.put(f"/Patient/{pid}", json=body)
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'

    deleted = await client.delete(f"/Patient/{pid}")
    assert deleted.status_code == 204
    gone = await client.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"

    history = await client.get(f"/Patient/{pid}/_history")
    assert history.status_code == 200
    methods = [e["request"]["method"] for e in history.json()["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
