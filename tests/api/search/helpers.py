"""What the search tests share: storing resources under their ids and reading match ids."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.builders import FHIR_JSON


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """Store `resource` under its own id (update as create); the stored resource."""
    url = f"/{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    stored: dict[str, Any] = response.json()
    return stored


async def search(client: httpx.AsyncClient, path: str, params: Any) -> list[str]:
    """The ids of the matches, in the order served."""
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "searchset"
    return [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


async def search_sorted(client: httpx.AsyncClient, path: str, params: Any) -> list[str]:
    """The ids of the matches, sorted (for tests about which, not in what order)."""
    return sorted(await search(client, path, params))


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """`response` is an error of `status` with an OperationOutcome; its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    assert all(i["severity"] in ("error", "fatal") for i in body["issue"]), body
    return body
