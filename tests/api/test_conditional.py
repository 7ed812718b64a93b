"""Conditional create, update and delete (http.html#ccreate, #cond-update, #cdelete), and
identifier search, whose criteria they share.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
TOLVAN = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"
SYSTEM = "urn:test:patient"
OTHER_SYSTEM = "urn:test:other"


def fake_patient(value: str, system: str | None = SYSTEM) -> dict[str, Any]:
    """A patient with a made-up identifier (never a personnummer); no system when None."""
    identifier: dict[str, str] = {"value": value}
    if system is not None:
        identifier["system"] = system
    return {
        "resourceType": "Patient",
        "identifier": [identifier],
        "name": [{"family": "Testsson", "given": [value]}],
    }


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return list(body["issue"])


async def versions(client: httpx.AsyncClient, resource_type: str = "Patient") -> int:
    response = await client.get(f"/{resource_type}/_history", params={"_count": "1000"})
    assert response.status_code == 200, response.text
    return len(response.json().get("entry", []))


async def search_ids(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.get(f"/Patient?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "searchset"
    entries = body.get("entry", [])
    assert all(e["search"]["mode"] == "match" for e in entries)
    return sorted(e["resource"]["id"] for e in entries)


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle.get("link", []):
        if item["relation"] == relation:
            return str(item["url"])
    return None


# --- conditional create --------------------------------------------------------------------


async def test_if_none_exist_without_match_creates(client: httpx.AsyncClient) -> None:
    other = await create(client, fake_patient("p1"))
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={TOLVAN}"},
    )
    assert response.status_code == 201, response.text
    pid = response.json()["id"]
    assert pid != other
    assert response.headers["location"] == f"{BASE}/Patient/{pid}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert await versions(client) == 2


async def test_if_none_exist_with_one_match_returns_it(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    original = (await client.get(f"/Patient/{pid}")).json()
    changed = {**builders.patient(), "active": True}
    response = await client.post(
        "/Patient", json=changed, headers={**FHIR_JSON, "If-None-Exist": f"identifier={TOLVAN}"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == original  # the existing resource, not the body sent
    assert response.headers["etag"] == 'W/"1"'
    assert await versions(client) == 1
    assert await search_ids(client, f"identifier={TOLVAN}") == [pid]


async def test_if_none_exist_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    await create(client, fake_patient("p1"))
    await create(client, fake_patient("p1"))
    response = await client.post(
        "/Patient",
        json=fake_patient("p1"),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={SYSTEM}|p1"},
    )
    assert_outcome(response, 412)
    assert await versions(client) == 2


async def test_if_none_exist_by_id(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    response = await client.post(
        "/Patient", json=builders.patient(), headers={**FHIR_JSON, "If-None-Exist": f"_id={pid}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == pid


async def test_if_none_exist_ignores_deleted_resources(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={TOLVAN}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] != pid


# --- conditional update ------------------------------------------------------------------


async def test_conditional_update_without_match_creates(client: httpx.AsyncClient) -> None:
    other = await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p2", json=fake_patient("p2"), headers=FHIR_JSON
    )
    assert response.status_code == 201, response.text
    pid = response.json()["id"]
    assert pid != other
    assert response.headers["location"] == f"{BASE}/Patient/{pid}/_history/1"
    assert await search_ids(client, f"identifier={SYSTEM}|p2") == [pid]


async def test_conditional_update_with_one_match_updates_it(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    other = await create(client, fake_patient("p2"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1",
        json={**fake_patient("p1"), "gender": "female"},
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == pid
    assert body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    assert (await client.get(f"/Patient/{other}")).headers["etag"] == 'W/"1"'
    assert await versions(client) == 3


async def test_conditional_update_body_id_equal_to_match(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1",
        json={**fake_patient("p1"), "id": pid, "active": True},
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == pid


async def test_conditional_update_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    await create(client, fake_patient("p1"))
    await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1", json=fake_patient("p1"), headers=FHIR_JSON
    )
    assert_outcome(response, 412)
    assert await versions(client) == 2


async def test_conditional_update_body_id_differing_from_match_is_400(
    client: httpx.AsyncClient,
) -> None:
    pid = await create(client, fake_patient("p1"))
    other = await create(client, fake_patient("p2"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1",
        json={**fake_patient("p1"), "id": other},
        headers=FHIR_JSON,
    )
    assert_outcome(response, 400)
    for rid in (pid, other):
        assert (await client.get(f"/Patient/{rid}")).headers["etag"] == 'W/"1"'


async def test_conditional_update_no_match_body_id_that_exists_is_409(
    client: httpx.AsyncClient,
) -> None:
    existing = await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p2",
        json={**fake_patient("p2"), "id": existing},
        headers=FHIR_JSON,
    )
    assert_outcome(response, 409)
    stored = (await client.get(f"/Patient/{existing}")).json()
    assert stored["identifier"][0]["value"] == "p1"
    assert await versions(client) == 1


async def test_conditional_update_no_match_with_a_new_body_id_creates_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p3",
        json={**fake_patient("p3"), "id": "chosen-id"},
        headers=FHIR_JSON,
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "chosen-id"
    assert (await client.get("/Patient/chosen-id")).status_code == 200


async def test_conditional_update_by_id(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?_id={pid}", json={**fake_patient("p1"), "active": True}, headers=FHIR_JSON
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == pid
    assert response.json()["active"] is True


async def test_conditional_update_with_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1",
        json=fake_patient("p1"),
        headers={**FHIR_JSON, "If-Match": 'W/"3"'},
    )
    assert_outcome(response, 412)
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'


async def test_conditional_update_of_another_type_in_the_body_is_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|p1", json=builders.organization(), headers=FHIR_JSON
    )
    assert_outcome(response, 400)
    assert await versions(client, "Organization") == 0


# --- conditional delete ------------------------------------------------------------------


async def test_conditional_delete_of_one_match(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    other = await create(client, fake_patient("p2"))
    response = await client.delete(f"/Patient?identifier={SYSTEM}|p1")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await client.get(f"/Patient/{pid}")).status_code == 410
    assert (await client.get(f"/Patient/{other}")).status_code == 200
    assert await search_ids(client, f"identifier={SYSTEM}|p1") == []


async def test_conditional_delete_without_match_is_404(client: httpx.AsyncClient) -> None:
    await create(client, fake_patient("p1"))
    assert_outcome(await client.delete(f"/Patient?identifier={SYSTEM}|p2"), 404)
    assert await versions(client) == 1


async def test_conditional_delete_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    first = await create(client, fake_patient("p1"))
    second = await create(client, fake_patient("p1"))
    assert_outcome(await client.delete(f"/Patient?identifier={SYSTEM}|p1"), 412)
    for rid in (first, second):
        assert (await client.get(f"/Patient/{rid}")).status_code == 200


async def test_conditional_delete_without_criteria_is_refused(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.delete("/Patient")
    assert response.status_code == 400, response.text
    assert (await client.get(f"/Patient/{pid}")).status_code == 200


async def test_conditional_update_without_criteria_is_refused(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.put("/Patient", json=fake_patient("p1"), headers=FHIR_JSON)
    assert response.status_code == 400, response.text
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'
    assert await versions(client) == 1


# --- unsupported criteria: refused, never ignored ---------------------------------------


async def test_unknown_parameter_in_conditional_update_is_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.put(
        "/Patient?no-such-param=x", json={**fake_patient("p1"), "active": True}, headers=FHIR_JSON
    )
    issues = assert_outcome(response, 400)
    assert "no-such-param" in issues[0]["diagnostics"]
    # Ignoring the parameter would have updated the only Patient.
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'
    assert await versions(client) == 1


async def test_unknown_parameter_in_conditional_delete_is_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    issues = assert_outcome(await client.delete("/Patient?no-such-param=x"), 400)
    assert "no-such-param" in issues[0]["diagnostics"]
    assert (await client.get(f"/Patient/{pid}")).status_code == 200


async def test_unknown_parameter_in_if_none_exist_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=fake_patient("p1"),
        headers={**FHIR_JSON, "If-None-Exist": "no-such-param=x"},
    )
    issues = assert_outcome(response, 400)
    assert "no-such-param" in issues[0]["diagnostics"]
    assert await versions(client) == 0


async def test_unknown_parameter_beside_a_known_one_is_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await client.delete(f"/Patient?identifier={SYSTEM}|p1&no-such-param=x")
    assert_outcome(response, 400)
    assert (await client.get(f"/Patient/{pid}")).status_code == 200


# --- identifier forms ----------------------------------------------------------------------


@pytest.fixture
async def identified(client: httpx.AsyncClient) -> dict[str, str]:
    """Patients whose identifiers tell the token forms apart."""
    return {
        "p1_in_system": await create(client, fake_patient("p1")),
        "p1_other_system": await create(client, fake_patient("p1", OTHER_SYSTEM)),
        "p1_no_system": await create(client, fake_patient("p1", None)),
        "p2_in_system": await create(client, fake_patient("p2")),
    }


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (f"identifier={SYSTEM}|p1", ["p1_in_system"]),
        ("identifier=|p1", ["p1_no_system"]),
        ("identifier=p1", ["p1_in_system", "p1_other_system", "p1_no_system"]),
        (f"identifier={SYSTEM}|", ["p1_in_system", "p2_in_system"]),
        (f"identifier={SYSTEM}|p1,{SYSTEM}|p2", ["p1_in_system", "p2_in_system"]),
        (f"identifier={SYSTEM}|p3", []),
    ],
)
async def test_identifier_search_forms(
    client: httpx.AsyncClient, identified: dict[str, str], criteria: str, expected: list[str]
) -> None:
    assert await search_ids(client, criteria) == sorted(identified[k] for k in expected)


async def test_id_and_identifier_criteria_combine_as_and(
    client: httpx.AsyncClient, identified: dict[str, str]
) -> None:
    wanted = identified["p1_other_system"]
    assert await search_ids(client, f"_id={wanted}&identifier=p1") == [wanted]
    assert await search_ids(client, f"_id={wanted}&identifier={SYSTEM}|p1") == []
    both = sorted([identified["p1_in_system"], identified["p2_in_system"]])
    assert await search_ids(client, f"_id={both[0]},{both[1]}") == both


async def test_conditional_delete_with_value_only_is_412_when_systems_differ(
    client: httpx.AsyncClient, identified: dict[str, str]
) -> None:
    assert_outcome(await client.delete("/Patient?identifier=p1"), 412)
    response = await client.delete("/Patient?identifier=|p1")
    assert response.status_code == 204, response.text
    assert (await client.get(f"/Patient/{identified['p1_no_system']}")).status_code == 410
    assert (await client.get(f"/Patient/{identified['p1_in_system']}")).status_code == 200


async def test_conditional_update_with_system_only_is_412_for_two(
    client: httpx.AsyncClient, identified: dict[str, str]
) -> None:
    response = await client.put(
        f"/Patient?identifier={SYSTEM}|", json=fake_patient("p1"), headers=FHIR_JSON
    )
    assert_outcome(response, 412)
    response = await client.put(
        f"/Patient?identifier={OTHER_SYSTEM}|",
        json={**fake_patient("p1", OTHER_SYSTEM), "active": True},
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == identified["p1_other_system"]


async def test_search_does_not_list_deleted_resources(client: httpx.AsyncClient) -> None:
    kept = await create(client, fake_patient("p1"))
    gone = await create(client, fake_patient("p1"))
    assert (await client.delete(f"/Patient/{gone}")).status_code == 204
    assert await search_ids(client, f"identifier={SYSTEM}|p1") == [kept]


async def test_search_by_identifier_pages_with_count_and_next(client: httpx.AsyncClient) -> None:
    ids = {await create(client, fake_patient(f"p{i}")) for i in range(5)}
    await create(client, builders.patient())  # in another system: never listed
    url: str | None = f"/Patient?identifier={SYSTEM}|&_count=2"
    seen: list[str] = []
    sizes: list[int] = []
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["type"] == "searchset"
        page_ids = [e["resource"]["id"] for e in page.get("entry", [])]
        sizes.append(len(page_ids))
        seen += page_ids
        next_url = link(page, "next")
        if next_url is None:
            url = None
        else:
            assert next_url.startswith(f"{BASE}/Patient?")
            assert "_count=2" in next_url
            url = next_url[len(BASE) :]
        assert len(sizes) < 10, "paging does not end"
    assert sizes == [2, 2, 1]
    assert len(seen) == len(set(seen))
    assert set(seen) == ids


async def test_search_self_link(client: httpx.AsyncClient) -> None:
    await create(client, fake_patient("p1"))
    response = await client.get("/Patient", params={"identifier": f"{SYSTEM}|p1"})
    assert response.status_code == 200
    self_link = link(response.json(), "self")
    assert self_link is not None
    assert self_link.startswith(f"{BASE}/Patient?")
    assert "identifier=" in self_link
