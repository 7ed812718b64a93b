"""Checks the access-control tests share."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.builders import FHIR_JSON

BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"


def refs(response: httpx.Response, mode: str | None = None) -> set[str]:
    """`Type/id` of every entry of a searchset or history Bundle answered 200 (of one
    `search.mode` when given)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle", body
    found = set()
    for entry in body.get("entry", []):
        if mode is not None and entry.get("search", {}).get("mode") != mode:
            continue
        resource = entry.get("resource")
        if resource is not None:
            found.add(f"{resource['resourceType']}/{resource['id']}")
        else:  # a history entry of a deletion has no resource
            parts = entry["fullUrl"].rsplit("/", 2)
            found.add(f"{parts[1]}/{parts[2]}")
    return found


def outcome(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The single-error OperationOutcome of a refusal with `status` (and issue `code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    assert body["issue"][0]["severity"] == "error", body
    if code is not None:
        assert body["issue"][0]["code"] == code, body
    return body


def request_id_of(event: dict[str, Any]) -> str | None:
    """The X-Request-ID an AuditEvent records."""
    for entity in event.get("entity", []):
        if entity.get("type", {}).get("code") == "XrequestId":
            return str(entity["what"]["identifier"]["value"])
    return None


async def all_audit_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every AuditEvent in the store (through `client`, a system token), newest first."""
    response = await client.get("/AuditEvent", params={"_count": "1000", "_sort": "-date"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "next" not in {link["relation"] for link in body.get("link", [])}
    return [entry["resource"] for entry in body.get("entry", [])]


async def audit_events_of(
    client: httpx.AsyncClient, response: httpx.Response
) -> list[dict[str, Any]]:
    """The AuditEvents recorded for the request that got `response` (by its X-Request-ID)."""
    request_id = response.headers["x-request-id"]
    return [e for e in await all_audit_events(client) if request_id_of(e) == request_id]


def entity_refs(event: dict[str, Any]) -> set[str]:
    """`what.reference` of every entity of an AuditEvent."""
    return {
        e["what"]["reference"] for e in event.get("entity", []) if "reference" in e.get("what", {})
    }


def agent_who(event: dict[str, Any]) -> dict[str, Any]:
    """`who` of the requesting agent (the user)."""
    agent = next(a for a in event["agent"] if a.get("requestor"))
    who: dict[str, Any] = agent["who"]
    return who


async def search_ids(client: httpx.AsyncClient, path: str, **params: str) -> set[str]:
    """`Type/id` of what a search through `client` (a system token) finds."""
    return refs(await client.get(path, params=params))


async def put(
    client: httpx.AsyncClient, resource: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """PUT `resource` under its own id with the caller's `headers`."""
    url = f"/{resource['resourceType']}/{resource['id']}"
    return await client.put(url, json=resource, headers={**FHIR_JSON, **headers})


async def post(
    client: httpx.AsyncClient, resource: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """POST `resource` to its type with the caller's `headers`."""
    url = f"/{resource['resourceType']}"
    return await client.post(url, json=resource, headers={**FHIR_JSON, **headers})


async def current(client: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    """The current content of `reference`, read through `client` (a system token)."""
    response = await client.get(f"/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
