"""create, read, update, delete and vread of single resources (http.html), per resource type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
TOLVAN_REF = "Patient/tolvan"

FACTORIES: dict[str, Callable[[], dict[str, Any]]] = {
    "Patient": builders.patient,
    "CarePlan": lambda: builders.care_plan(TOLVAN_REF),
    "CareTeam": lambda: builders.care_team(TOLVAN_REF),
    "Appointment": lambda: builders.appointment(TOLVAN_REF),
    "Organization": builders.organization,
}
TYPES = list(FACTORIES)


def minimal(resource_type: str) -> dict[str, Any]:
    """A new minimal valid resource of `resource_type`."""
    return FACTORIES[resource_type]()


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is `status` with an OperationOutcome holding at least one issue."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"], body
    for issue in body["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
    return body


def instant(value: str) -> dt.datetime:
    """A FHIR instant (always with a zone on this server's output) as an aware datetime."""
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def last_modified(response: httpx.Response) -> dt.datetime:
    return parsedate_to_datetime(response.headers["last-modified"])


def assert_same_second(meta_last_updated: str, header: dt.datetime) -> None:
    """Last-Modified (whole seconds) is meta.lastUpdated cut to the second."""
    assert instant(meta_last_updated).replace(microsecond=0) == header


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> httpx.Response:
    response = await client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return response


# --- create ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_create_returns_201_with_location_etag_and_stored_resource(
    client: httpx.AsyncClient, resource_type: str
) -> None:
    sent = minimal(resource_type)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    response = await client.post(f"/{resource_type}", json=sent, headers=FHIR_JSON)
    after = dt.datetime.now(dt.UTC)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body = response.json()
    new_id = body["id"]
    assert isinstance(new_id, str)
    assert new_id
    assert response.headers["location"] == f"{BASE}/{resource_type}/{new_id}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert body["resourceType"] == resource_type
    assert body["meta"]["versionId"] == "1"
    updated = instant(body["meta"]["lastUpdated"])
    assert before <= updated <= after
    assert_same_second(body["meta"]["lastUpdated"], last_modified(response))
    # Everything the client sent is kept as sent.
    assert without_meta(body) == sent


async def test_create_assigns_a_new_id_each_time(client: httpx.AsyncClient) -> None:
    first = (await create(client, builders.patient())).json()["id"]
    second = (await create(client, builders.patient())).json()["id"]
    assert first != second
    assert (await client.get(f"/Patient/{first}")).status_code == 200
    assert (await client.get(f"/Patient/{second}")).status_code == 200


async def test_create_ignores_the_id_in_the_body(client: httpx.AsyncClient) -> None:
    sent = {**builders.patient(), "id": "chosen-by-client"}
    response = await create(client, sent)
    body = response.json()
    assert body["id"] != "chosen-by-client"
    assert response.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    missing = await client.get("/Patient/chosen-by-client")
    assert_outcome(missing, 404)


async def test_create_replaces_client_version_and_keeps_other_meta(
    client: httpx.AsyncClient,
) -> None:
    tag = {"system": "http://example.org/tags", "code": "test"}
    sent = {
        **builders.patient(),
        "meta": {"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [tag]},
    }
    body = (await create(client, sent)).json()
    assert body["meta"]["versionId"] == "1"
    assert instant(body["meta"]["lastUpdated"]).year > 2001
    assert body["meta"]["tag"] == [tag]


async def test_create_accepts_application_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient", json=builders.patient(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == builders.patient()["name"]


# --- read -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_read_returns_the_created_resource(
    client: httpx.AsyncClient, resource_type: str
) -> None:
    created = await create(client, minimal(resource_type))
    body = created.json()

    response = await client.get(f"/{resource_type}/{body['id']}")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"] == created.headers["last-modified"]
    assert response.json() == body


async def test_read_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/does-not-exist")
    assert_outcome(response, 404)


async def test_read_with_the_wrong_type_is_404(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert_outcome(await client.get(f"/Organization/{pid}"), 404)


# --- update ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_update_makes_version_2(client: httpx.AsyncClient, resource_type: str) -> None:
    created = (await create(client, minimal(resource_type))).json()
    rid = created["id"]
    changed = {**minimal(resource_type), "id": rid, "language": "sv"}

    response = await client.put(f"/{resource_type}/{rid}", json=changed, headers=FHIR_JSON)

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["id"] == rid
    assert body["language"] == "sv"
    assert body["meta"]["versionId"] == "2"
    assert instant(body["meta"]["lastUpdated"]) >= instant(created["meta"]["lastUpdated"])
    assert_same_second(body["meta"]["lastUpdated"], last_modified(response))
    assert without_meta(body) == without_meta(changed)

    read = await client.get(f"/{resource_type}/{rid}")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"2"'
    assert read.json() == body


async def test_update_can_remove_elements(client: httpx.AsyncClient) -> None:
    created = (await create(client, builders.patient())).json()
    replacement = {"resourceType": "Patient", "id": created["id"], "active": False}
    response = await client.put(f"/Patient/{created['id']}", json=replacement, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    read = (await client.get(f"/Patient/{created['id']}")).json()
    assert "name" not in read
    assert "identifier" not in read
    assert read["active"] is False


@pytest.mark.parametrize("resource_type", ["Patient", "CarePlan", "Appointment"])
async def test_update_as_create_with_client_id(
    client: httpx.AsyncClient, resource_type: str
) -> None:
    rid = f"{resource_type.lower()}-tolvan-1"
    sent = {**minimal(resource_type), "id": rid}

    response = await client.put(f"/{resource_type}/{rid}", json=sent, headers=FHIR_JSON)

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/{resource_type}/{rid}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    body = response.json()
    assert body["id"] == rid
    assert body["meta"]["versionId"] == "1"
    read = await client.get(f"/{resource_type}/{rid}")
    assert read.status_code == 200
    assert read.json() == body


async def test_update_of_deleted_resource_recreates_it(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    response = await client.put(
        f"/Patient/{pid}", json={**builders.patient(), "id": pid}, headers=FHIR_JSON
    )

    # Brought back to life: 201, and the version numbers go on (1 create, 2 delete, 3 now).
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == 'W/"3"'
    assert response.headers["location"] == f"{BASE}/Patient/{pid}/_history/3"
    read = await client.get(f"/Patient/{pid}")
    assert read.status_code == 200
    assert read.json()["meta"]["versionId"] == "3"


async def test_update_ignores_the_version_in_the_body(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    sent = {**builders.patient(), "id": pid, "meta": {"versionId": "41"}}
    response = await client.put(f"/Patient/{pid}", json=sent, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'


# --- patch ----------------------------------------------------------------------------------

PATCH_JSON = {"Content-Type": "application/json-patch+json"}


async def test_patch_makes_a_new_version(client: httpx.AsyncClient) -> None:
    created = (await create(client, builders.care_plan(TOLVAN_REF))).json()
    rid = created["id"]
    operations = [
        {"op": "replace", "path": "/status", "value": "completed"},
        {"op": "add", "path": "/description", "value": "Uppföljning klar"},
    ]

    response = await client.patch(f"/CarePlan/{rid}", json=operations, headers=PATCH_JSON)

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["status"] == "completed"
    assert body["description"] == "Uppföljning klar"
    assert body["meta"]["versionId"] == "2"
    assert without_meta(body) == {
        **without_meta(created),
        "status": "completed",
        "description": "Uppföljning klar",
    }
    assert (await client.get(f"/CarePlan/{rid}")).json() == body


async def test_patch_unknown_is_404_and_deleted_is_410(client: httpx.AsyncClient) -> None:
    operations = [{"op": "add", "path": "/active", "value": True}]
    assert_outcome(
        await client.patch("/Patient/never-was", json=operations, headers=PATCH_JSON), 404
    )
    pid = (await create(client, builders.patient())).json()["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    assert_outcome(await client.patch(f"/Patient/{pid}", json=operations, headers=PATCH_JSON), 410)


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "/id", "value": "another"}],
        [{"op": "replace", "path": "/resourceType", "value": "Organization"}],
        [{"op": "test", "path": "/gender", "value": "female"}],
        [{"op": "remove", "path": "/nothing-here"}],
        [{"op": "dance", "path": "/gender"}],
    ],
)
async def test_patch_that_cannot_apply_is_422_and_changes_nothing(
    client: httpx.AsyncClient, operations: list[dict[str, Any]]
) -> None:
    created = (await create(client, builders.patient())).json()
    response = await client.patch(f"/Patient/{created['id']}", json=operations, headers=PATCH_JSON)
    assert_outcome(response, 422)
    assert (await client.get(f"/Patient/{created['id']}")).json() == created


@pytest.mark.parametrize("document", [{"op": "add", "path": "/active", "value": True}, "add"])
async def test_patch_document_that_is_not_an_array_is_400(
    client: httpx.AsyncClient, document: Any
) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    response = await client.patch(f"/Patient/{pid}", json=document, headers=PATCH_JSON)
    assert_outcome(response, 400)


# --- delete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_delete_then_read_is_410(client: httpx.AsyncClient, resource_type: str) -> None:
    rid = (await create(client, minimal(resource_type))).json()["id"]

    response = await client.delete(f"/{resource_type}/{rid}")

    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(f"/{resource_type}/{rid}")
    body = assert_outcome(gone, 410)
    assert body["issue"][0]["code"] == "deleted"


async def test_delete_again_is_204_without_a_new_version(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    again = await client.delete(f"/Patient/{pid}")

    assert again.status_code == 204
    assert again.content == b""
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']


async def test_delete_of_a_deleted_resource_with_a_stale_if_match_is_412(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    # Version 1 is no longer current (version 2 records the deletion): RFC 9110 says 412.
    again = await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})

    assert_outcome(again, 412)


async def test_delete_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.delete("/Patient/never-was"), 404)


async def test_delete_leaves_other_resources_alone(client: httpx.AsyncClient) -> None:
    first = (await create(client, builders.patient())).json()["id"]
    second = (await create(client, builders.patient())).json()["id"]
    assert (await client.delete(f"/Patient/{first}")).status_code == 204
    assert (await client.get(f"/Patient/{second}")).status_code == 200


# --- vread ----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_vread_every_version(client: httpx.AsyncClient, resource_type: str) -> None:
    v1 = (await create(client, minimal(resource_type))).json()
    rid = v1["id"]
    v2_sent = {**minimal(resource_type), "id": rid, "language": "sv"}
    v2 = (await client.put(f"/{resource_type}/{rid}", json=v2_sent, headers=FHIR_JSON)).json()
    assert v2["meta"]["versionId"] == "2"

    first = await client.get(f"/{resource_type}/{rid}/_history/1")
    second = await client.get(f"/{resource_type}/{rid}/_history/2")

    assert first.status_code == 200, first.text
    assert first.headers["etag"] == 'W/"1"'
    assert first.headers["content-type"] == "application/fhir+json; charset=utf-8"
    assert_same_second(v1["meta"]["lastUpdated"], last_modified(first))
    assert first.json() == v1
    assert "language" not in first.json()
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == 'W/"2"'
    assert second.json() == v2


async def test_vread_unknown_version_is_404(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert_outcome(await client.get(f"/Patient/{pid}/_history/2"), 404)
    assert_outcome(await client.get(f"/Patient/{pid}/_history/0"), 404)


async def test_vread_of_a_version_beyond_any_integer_is_404(client: httpx.AsyncClient) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    for version in ("2147483648", "99999999999999999999999"):
        assert_outcome(await client.get(f"/Patient/{pid}/_history/{version}"), 404)


async def test_vread_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/Patient/never-was/_history/1"), 404)


async def test_vread_of_the_deletion_is_410_and_earlier_versions_stay(
    client: httpx.AsyncClient,
) -> None:
    created = (await create(client, builders.patient())).json()
    pid = created["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    assert_outcome(await client.get(f"/Patient/{pid}/_history/2"), 410)
    first = await client.get(f"/Patient/{pid}/_history/1")
    assert first.status_code == 200
    assert first.json() == created


# "²" and "١" are Unicode digits (str.isdigit() is true), but no FHIR version id: [A-Za-z0-9.-].
@pytest.mark.parametrize("version", ["abc", "1a", "-1", "1.0", "²", "١"])
async def test_vread_non_numeric_version_is_400(client: httpx.AsyncClient, version: str) -> None:
    pid = (await create(client, builders.patient())).json()["id"]
    assert_outcome(await client.get(f"/Patient/{pid}/_history/{version}"), 400)


# --- the whole cycle, as history shows it ---------------------------------------------------


@pytest.mark.parametrize("resource_type", TYPES)
async def test_full_cycle_history(client: httpx.AsyncClient, resource_type: str) -> None:
    rid = (await create(client, minimal(resource_type))).json()["id"]
    changed = {**minimal(resource_type), "id": rid, "language": "sv"}
    assert (
        await client.put(f"/{resource_type}/{rid}", json=changed, headers=FHIR_JSON)
    ).status_code == 200
    assert (await client.delete(f"/{resource_type}/{rid}")).status_code == 204

    history = await client.get(f"/{resource_type}/{rid}/_history")

    assert history.status_code == 200
    entries = history.json()["entry"]
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PUT", "POST"]
    assert [e["response"]["etag"] for e in entries] == ['W/"3"', 'W/"2"', 'W/"1"']
