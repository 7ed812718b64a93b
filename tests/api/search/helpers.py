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


BASE = "http://test/fhir"
"""The test client's base (tests/conftest.py settings.base_url)."""


def link(bundle: dict[str, Any], relation: str) -> str | None:
    """The URL of the Bundle's link with `relation`, if any (never several)."""
    found = [item["url"] for item in bundle.get("link", []) if item["relation"] == relation]
    assert len(found) <= 1, bundle["link"]
    return found[0] if found else None


def relative(url: str) -> str:
    """A link of the server (`http://test/fhir/...`) as a path for the test client."""
    assert url.startswith(BASE + "/"), url
    return url[len(BASE) :]


def patient(resource_id: str, family: str, *given: str, **extra: Any) -> dict[str, Any]:
    """A test patient (never a real personnummer: a `urn:test:patient` identifier)."""
    name: dict[str, Any] = {"family": family}
    if given:
        name["given"] = list(given)
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": "urn:test:patient", "value": resource_id}],
        "name": [name],
        **extra,
    }
