"""PATCH with JSON Patch (http.html#patch, RFC 6902): applied, validated, versioned."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


async def new_patient(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/Patient", json={**builders.patient(), **extra}, headers=FHIR_JSON
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send_patch(
    client: httpx.AsyncClient, url: str, operations: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.patch(
        url, content=orjson.dumps(operations), headers={**PATCH_JSON, **(headers or {})}
    )


def assert_outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return list(body["issue"])


async def assert_unchanged(client: httpx.AsyncClient, before: dict[str, Any]) -> None:
    """Still the version `before`, with no version added to its history."""
    pid = before["id"]
    current = await client.get(f"/Patient/{pid}")
    assert current.status_code == 200
    assert current.json() == before
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert len(history["entry"]) == 1


async def test_replace(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    pid = before["id"]
    response = await send_patch(
        client, f"/Patient/{pid}", [{"op": "replace", "path": "/gender", "value": "female"}]
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    assert "last-modified" in response.headers
    body = response.json()
    assert body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"
    assert body["name"] == before["name"]
    stored = await client.get(f"/Patient/{pid}")
    assert stored.json() == body
    old = (await client.get(f"/Patient/{pid}/_history/1")).json()
    assert old["gender"] == "male"


async def test_add_to_an_object_and_to_an_array(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    operations = [
        {"op": "add", "path": "/active", "value": True},
        {"op": "add", "path": "/name/-", "value": {"use": "nickname", "given": ["Tolle"]}},
        {"op": "add", "path": "/name/0/given/-", "value": "Tolvar"},
    ]
    response = await send_patch(client, f"/Patient/{pid}", operations)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert body["name"] == [
        {"family": "Tolvansson", "given": ["Tolvan", "Tolvar"]},
        {"use": "nickname", "given": ["Tolle"]},
    ]


async def test_remove(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await send_patch(client, f"/Patient/{pid}", [{"op": "remove", "path": "/birthDate"}])
    assert response.status_code == 200, response.text
    assert "birthDate" not in response.json()
    assert "birthDate" not in (await client.get(f"/Patient/{pid}")).json()


async def test_passing_test_op_then_replace(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    operations = [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/gender", "value": "other"},
    ]
    response = await send_patch(client, f"/Patient/{pid}", operations)
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "other"


async def test_successive_patches_bump_the_version(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    for version, value in ((2, True), (3, False)):
        response = await send_patch(
            client, f"/Patient/{pid}", [{"op": "add", "path": "/active", "value": value}]
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'W/"{version}"'
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PATCH", "PATCH", "POST"]


async def test_empty_patch_is_a_new_identical_version(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    response = await send_patch(client, f"/Patient/{before['id']}", [])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["versionId"] == "2"
    assert {k: v for k, v in body.items() if k != "meta"} == {
        k: v for k, v in before.items() if k != "meta"
    }


async def test_patch_that_makes_the_resource_invalid_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    response = await send_patch(
        client, f"/Patient/{before['id']}", [{"op": "add", "path": "/active", "value": "yes"}]
    )
    issues = assert_outcome(response, 422)
    assert any("Patient.active" in i.get("expression", []) for i in issues), issues
    await assert_unchanged(client, before)


async def test_patch_removing_a_required_element_is_422(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/CarePlan", json=builders.care_plan("Patient/x"), headers=FHIR_JSON
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    response = await send_patch(
        client, f"/CarePlan/{plan['id']}", [{"op": "remove", "path": "/status"}]
    )
    assert_outcome(response, 422)
    assert (await client.get(f"/CarePlan/{plan['id']}")).json() == plan


async def test_failing_test_op_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/gender", "value": "other"},
    ]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)


async def test_path_that_does_not_exist_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "replace", "path": "/telecom/0/value", "value": "x"}]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)


async def test_unknown_op_is_refused(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "frobnicate", "path": "/gender", "value": "other"}]
    response = await send_patch(client, f"/Patient/{before['id']}", operations)
    assert response.status_code in (400, 422), response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    await assert_unchanged(client, before)


async def test_patch_changing_the_id_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "replace", "path": "/id", "value": "someone-else"}]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)
    assert (await client.get("/Patient/someone-else")).status_code == 404


async def test_patch_removing_the_id_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "remove", "path": "/id"}]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)


async def test_patch_changing_the_resource_type_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "replace", "path": "/resourceType", "value": "Organization"}]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)


async def test_patch_replacing_the_whole_document_is_422(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    operations = [{"op": "replace", "path": "", "value": ["not", "a", "resource"]}]
    assert_outcome(await send_patch(client, f"/Patient/{before['id']}", operations), 422)
    await assert_unchanged(client, before)


async def test_patch_of_meta_version_id_does_not_set_the_version(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]
    operations = [{"op": "replace", "path": "/meta/versionId", "value": "42"}]
    response = await send_patch(client, f"/Patient/{pid}", operations)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'


async def test_patch_of_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    response = await send_patch(
        client, "/Patient/does-not-exist", [{"op": "add", "path": "/active", "value": True}]
    )
    assert_outcome(response, 404)
    assert (await client.get("/Patient/does-not-exist")).status_code == 404


async def test_patch_of_deleted_resource_is_410(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    response = await send_patch(
        client, f"/Patient/{pid}", [{"op": "add", "path": "/active", "value": True}]
    )
    assert_outcome(response, 410)
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert len(history["entry"]) == 2


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    response = await client.patch(
        f"/Patient/{before['id']}", content=b'[{"op": "remove", ', headers=PATCH_JSON
    )
    assert_outcome(response, 400)
    await assert_unchanged(client, before)


@pytest.mark.parametrize(
    "document",
    [{"op": "remove", "path": "/gender"}, "remove /gender", 7, None],
    ids=["object", "string", "number", "null"],
)
async def test_document_that_is_not_an_array_is_400(
    client: httpx.AsyncClient, document: Any
) -> None:
    before = await new_patient(client)
    response = await send_patch(client, f"/Patient/{before['id']}", document)
    assert_outcome(response, 400)
    await assert_unchanged(client, before)


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json", None])
async def test_other_content_types_are_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    before = await new_patient(client)
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.patch(
        f"/Patient/{before['id']}",
        content=orjson.dumps([{"op": "remove", "path": "/gender"}]),
        headers=headers,
    )
    assert_outcome(response, 415)
    await assert_unchanged(client, before)


async def test_if_match(client: httpx.AsyncClient) -> None:
    before = await new_patient(client)
    pid = before["id"]
    operations = [{"op": "add", "path": "/active", "value": True}]
    stale = await send_patch(client, f"/Patient/{pid}", operations, {"If-Match": 'W/"2"'})
    assert_outcome(stale, 412)
    await assert_unchanged(client, before)
    fresh = await send_patch(client, f"/Patient/{pid}", operations, {"If-Match": 'W/"1"'})
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["etag"] == 'W/"2"'


async def test_prefer_return_minimal(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await send_patch(
        client,
        f"/Patient/{pid}",
        [{"op": "add", "path": "/active", "value": True}],
        {"Prefer": "return=minimal"},
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["etag"] == 'W/"2"'


async def test_patched_resource_is_found_by_its_new_values(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    operations = [
        {
            "op": "replace",
            "path": "/identifier/0",
            "value": {"system": "urn:test:patient", "value": "p7"},
        }
    ]
    response = await send_patch(client, f"/Patient/{pid}", operations)
    assert response.status_code == 200, response.text
    found = (await client.get("/Patient", params={"identifier": "urn:test:patient|p7"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]
    old = (await client.get("/Patient", params={"identifier": "191212121212"})).json()
    assert old.get("entry", []) == []
