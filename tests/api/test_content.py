"""Content negotiation, request body rules and the Prefer header (http.html#mime-type)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from tests.api import builders
from tests.api.builders import FHIR_JSON, history_size
from tests.conftest import SYSTEM_SCOPE, Tokens

pytestmark = pytest.mark.anyio

FHIR_JSON_UTF8 = "application/fhir+json; charset=utf-8"
BASE = "http://test/fhir"
SMALL_LIMIT = 400


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON_UTF8
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


async def new_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
async def small_client(settings: Settings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A client (system token) of an app that accepts request bodies of at most SMALL_LIMIT
    bytes."""
    application = create_app(settings.model_copy(update={"max_body_bytes": SMALL_LIMIT}))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    headers = tokens.headers(SYSTEM_SCOPE)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
        yield c
    await application.state.server.store.dispose()


# --- Accept and _format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+json",
        "application/json",
        "*/*",
        "application/fhir+json; charset=utf-8",
        "application/fhir+xml, application/fhir+json;q=0.9",
        "text/html, */*;q=0.1",
        None,
    ],
)
async def test_acceptable_accept_headers(client: httpx.AsyncClient, accept: str | None) -> None:
    created = await new_patient(client)
    # httpx sends `Accept: */*` by default; None removes the header entirely.
    client.headers.pop("accept", None)
    headers = {"Accept": accept} if accept is not None else {}

    response = await client.get(f"/Patient/{created['id']}", headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON_UTF8
    assert response.json() == created
    assert response.request.headers.get("accept") == accept


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+xml",
        "application/xml",
        "text/html",
        # q=0 means "not acceptable" (RFC 9110 section 12.4.2).
        "application/fhir+json;q=0",
        "application/fhir+xml, application/json; q=0, */*;q=0.0",
    ],
)
async def test_xml_only_accept_is_406(client: httpx.AsyncClient, accept: str) -> None:
    created = await new_patient(client)
    for path in (f"/Patient/{created['id']}", "/metadata", "/Patient/_history"):
        response = await client.get(path, headers={"Accept": accept})
        body = assert_outcome(response, 406)
        assert body["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("fmt", ["json", "application/fhir+json", "application/json"])
async def test_format_json_is_ok_and_overrides_accept(client: httpx.AsyncClient, fmt: str) -> None:
    created = await new_patient(client)
    response = await client.get(
        f"/Patient/{created['id']}",
        params={"_format": fmt},
        headers={"Accept": "application/fhir+xml"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == created


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/turtle", "ttl"])
async def test_format_other_than_json_is_406(client: httpx.AsyncClient, fmt: str) -> None:
    created = await new_patient(client)
    response = await client.get(
        f"/Patient/{created['id']}",
        params={"_format": fmt},
        headers={"Accept": "application/fhir+json"},
    )
    assert_outcome(response, 406)


async def test_406_also_refuses_writes_before_they_happen(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "Accept": "application/fhir+xml"},
    )
    assert_outcome(response, 406)
    assert await history_size(client) == 0


async def test_pretty_gives_indented_json_with_the_same_content(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    path = f"/Patient/{created['id']}"

    compact = await client.get(path)
    pretty = await client.get(path, params={"_pretty": "true"})

    assert pretty.status_code == 200
    assert pretty.headers["content-type"] == FHIR_JSON_UTF8
    assert b"\n" not in compact.content
    assert b'\n  "' in pretty.content
    assert pretty.json() == compact.json() == created
    assert pretty.headers["etag"] == compact.headers["etag"]


async def test_pretty_applies_to_bundles_and_writes(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/Patient", params={"_pretty": "true"}, json=builders.patient(), headers=FHIR_JSON
    )
    assert created.status_code == 201
    assert b'\n  "' in created.content
    history = await client.get("/Patient/_history", params={"_pretty": "true"})
    assert b'\n  "' in history.content
    assert history.json()["entry"][0]["resource"] == created.json()


async def test_pretty_false_is_compact(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    response = await client.get(f"/Patient/{created['id']}", params={"_pretty": "false"})
    assert b"\n" not in response.content


@pytest.mark.parametrize("path", ["/metadata", "/_history", "/Patient/_history", "/Patient"])
async def test_response_content_type(client: httpx.AsyncClient, path: str) -> None:
    await new_patient(client)
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON_UTF8
    # The bytes are UTF-8 JSON; Swedish letters pass through as they are.
    assert isinstance(orjson.loads(response.content), dict)


async def test_swedish_letters_survive_a_round_trip(client: httpx.AsyncClient) -> None:
    sent = {**builders.organization(), "name": "Vårdcentralen Ängsö"}
    created = await client.post("/Organization", json=sent, headers=FHIR_JSON)
    assert created.status_code == 201
    read = await client.get(f"/Organization/{created.json()['id']}")
    assert "Vårdcentralen Ängsö".encode() in read.content
    assert read.json()["name"] == "Vårdcentralen Ängsö"


# --- request Content-Type -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/fhir+json", "application/json", "application/fhir+json; charset=utf-8"],
)
async def test_json_content_types_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    body = orjson.dumps(builders.patient())
    response = await client.post("/Patient", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    pid = response.json()["id"]
    update = orjson.dumps({**builders.patient(), "id": pid, "active": True})
    updated = await client.put(
        f"/Patient/{pid}", content=update, headers={"Content-Type": content_type}
    )
    assert updated.status_code == 200, updated.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/fhir+xml", "application/x-www-form-urlencoded", None],
)
async def test_create_with_other_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        "/Patient", content=orjson.dumps(builders.patient()), headers=headers
    )
    body = assert_outcome(response, 415)
    assert body["issue"][0]["code"] == "not-supported"
    assert await history_size(client) == 0


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_update_with_other_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    pid = (await new_patient(client))["id"]
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.put(
        f"/Patient/{pid}",
        content=orjson.dumps({**builders.patient(), "id": pid, "active": True}),
        headers=headers,
    )
    assert_outcome(response, 415)
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/fhir+json", "text/plain", None]
)
async def test_patch_needs_json_patch_content_type(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    pid = (await new_patient(client))["id"]
    operations = orjson.dumps([{"op": "add", "path": "/active", "value": True}])
    headers = {"Content-Type": content_type} if content_type else {}

    refused = await client.patch(f"/Patient/{pid}", content=operations, headers=headers)
    assert_outcome(refused, 415)

    accepted = await client.patch(
        f"/Patient/{pid}",
        content=operations,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["active"] is True


async def test_transaction_with_other_content_type_is_415(client: httpx.AsyncClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch"}
    response = await client.post(
        "", content=orjson.dumps(bundle), headers={"Content-Type": "text/plain"}
    )
    assert_outcome(response, 415)


# --- body size ------------------------------------------------------------------------------


def _large_patient() -> dict[str, Any]:
    patient = builders.patient()
    patient["name"][0]["text"] = "Tolvan " + "x" * SMALL_LIMIT
    return patient


async def test_body_within_the_limit_is_accepted(small_client: httpx.AsyncClient) -> None:
    body = orjson.dumps({"resourceType": "Patient", "active": True})
    assert len(body) < SMALL_LIMIT
    response = await small_client.post("/Patient", content=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text


async def test_body_over_the_limit_is_413(small_client: httpx.AsyncClient) -> None:
    body = orjson.dumps(_large_patient())
    assert len(body) > SMALL_LIMIT

    response = await small_client.post("/Patient", content=body, headers=FHIR_JSON)

    outcome = assert_outcome(response, 413)
    assert outcome["issue"][0]["code"] == "too-costly"
    assert await history_size(small_client) == 0


async def test_streamed_body_over_the_limit_is_413(small_client: httpx.AsyncClient) -> None:
    """Without Content-Length the limit still holds while the body is read."""
    body = orjson.dumps(_large_patient())

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64):
            yield body[start : start + 64]

    response = await small_client.post("/Patient", content=chunks(), headers=FHIR_JSON)

    assert "content-length" not in response.request.headers
    assert_outcome(response, 413)
    assert await history_size(small_client) == 0


async def test_update_patch_and_bundle_over_the_limit_are_413(
    small_client: httpx.AsyncClient,
) -> None:
    created = await small_client.post(
        "/Patient", json={"resourceType": "Patient", "active": True}, headers=FHIR_JSON
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    big = {**_large_patient(), "id": pid}
    put = await small_client.put(f"/Patient/{pid}", json=big, headers=FHIR_JSON)
    assert_outcome(put, 413)

    operations = [{"op": "add", "path": "/name", "value": _large_patient()["name"]}]
    patch = await small_client.patch(
        f"/Patient/{pid}",
        content=orjson.dumps(operations),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert_outcome(patch, 413)

    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": _large_patient(), "request": {"method": "POST", "url": "Patient"}}],
    }
    assert_outcome(await small_client.post("", json=bundle, headers=FHIR_JSON), 413)

    read = await small_client.get(f"/Patient/{pid}")
    assert read.headers["etag"] == 'W/"1"'


# --- Prefer ---------------------------------------------------------------------------------


async def test_prefer_return_minimal_on_create(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "Prefer": "return=minimal"},
    )

    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith(f"{BASE}/Patient/")
    assert location.endswith("/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    assert "last-modified" in response.headers
    pid = location[len(f"{BASE}/Patient/") : -len("/_history/1")]
    read = await client.get(f"/Patient/{pid}")
    assert read.status_code == 200
    assert read.json()["name"] == builders.patient()["name"]


async def test_prefer_return_minimal_on_update_and_patch(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    minimal = {"Prefer": "return=minimal"}

    put = await client.put(
        f"/Patient/{pid}",
        json={**builders.patient(), "id": pid, "active": True},
        headers={**FHIR_JSON, **minimal},
    )
    assert put.status_code == 200
    assert put.content == b""
    assert put.headers["etag"] == 'W/"2"'

    patch = await client.patch(
        f"/Patient/{pid}",
        json=[{"op": "replace", "path": "/active", "value": False}],
        headers={"Content-Type": "application/json-patch+json", **minimal},
    )
    assert patch.status_code == 200
    assert patch.content == b""
    assert patch.headers["etag"] == 'W/"3"'
    assert (await client.get(f"/Patient/{pid}")).json()["active"] is False


async def test_prefer_return_operation_outcome(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"},
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == FHIR_JSON_UTF8
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith("/_history/1")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"


@pytest.mark.parametrize("prefer", ["return=representation", None, "handling=strict"])
async def test_prefer_return_representation_is_the_default(
    client: httpx.AsyncClient, prefer: str | None
) -> None:
    headers = {**FHIR_JSON, **({"Prefer": prefer} if prefer else {})}
    response = await client.post("/Patient", json=builders.patient(), headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert body["resourceType"] == "Patient"
    assert body["name"] == builders.patient()["name"]
    assert response.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"


async def test_prefer_with_several_preferences(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "Prefer": "handling=strict, return=minimal"},
    )
    assert response.status_code == 201
    assert response.content == b""


async def test_every_response_reports_its_server_time(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/metadata"), await client.get("/Patient/missing")):
        timing = response.headers["server-timing"]
        name, _, duration = timing.partition(";dur=")
        assert name == "app"
        assert float(duration) >= 0
