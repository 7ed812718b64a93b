"""Every failure is an OperationOutcome with the right status, and a failed write leaves nothing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from patientkontrakt.store.repository import Repository
from tests.api import builders
from tests.api.builders import FHIR_JSON, history_size

pytestmark = pytest.mark.anyio

FHIR_JSON_UTF8 = "application/fhir+json; charset=utf-8"


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON_UTF8
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    for issue in body["issue"]:
        assert issue["severity"] in ("fatal", "error")
        assert issue["code"]
    return body


def expressions(outcome: dict[str, Any]) -> list[str]:
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


async def new_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- unknown types, routes and methods ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Unicorn"),
        ("GET", "/Unicorn/1"),
        ("GET", "/Unicorn/1/_history"),
        ("GET", "/Unicorn/1/_history/1"),
        ("GET", "/Unicorn/_history"),
        ("DELETE", "/Unicorn/1"),
        ("GET", "/patient/1"),  # type names are case-sensitive
        ("GET", "/Bundle/1"),  # a real FHIR type this server does not keep
    ],
)
async def test_unknown_type_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    body = assert_outcome(await client.request(method, path), 404)
    assert body["issue"][0]["code"] == "not-found"


async def test_create_of_unknown_type_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Unicorn", json={"resourceType": "Unicorn"}, headers={"Content-Type": "application/json"}
    )
    assert_outcome(response, 404)
    assert await history_size(client) == 0


@pytest.mark.parametrize(
    "url",
    [
        "/Patient/1/foo/bar",
        "/Patient/1/_history/1/extra",
        "http://test/nothing",
        "http://test/",
    ],
)
async def test_unknown_route_is_404(client: httpx.AsyncClient, url: str) -> None:
    body = assert_outcome(await client.get(url), 404)
    assert body["issue"][0]["code"] == "not-found"


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/metadata", json=[], headers={"Content-Type": "application/json"}
    )
    body = assert_outcome(response, 405)
    assert body["issue"][0]["code"] == "not-supported"
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed
    assert "PATCH" not in allowed


# --- bodies that are not resources ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b'{"resourceType": "Patient",}', b"\xff\xfe", b"null"]
)
async def test_invalid_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    assert_outcome(await client.post("/Patient", content=raw, headers=FHIR_JSON), 400)
    assert await history_size(client) == 0


@pytest.mark.parametrize("raw", [b"[]", b'[{"resourceType": "Patient"}]', b'"Patient"', b"42"])
async def test_json_that_is_not_an_object_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    assert_outcome(await client.post("/Patient", content=raw, headers=FHIR_JSON), 400)
    assert_outcome(await client.put("/Patient/x", content=raw, headers=FHIR_JSON), 400)
    assert_outcome(await client.post("", content=raw, headers=FHIR_JSON), 400)
    assert await history_size(client) == 0


async def test_invalid_json_patch_is_400(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await client.patch(
        f"/Patient/{pid}",
        content=b"[{op: add}",
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert_outcome(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        builders.organization(),
        {"resourceType": "patient", "active": True},
        {"active": True},
        {"resourceType": None, "active": True},
    ],
)
async def test_resource_type_must_match_url(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_outcome(await client.post("/Patient", json=body, headers=FHIR_JSON), 400)
    assert_outcome(
        await client.put("/Patient/tolvan", json={**body, "id": "tolvan"}, headers=FHIR_JSON), 400
    )
    assert await history_size(client) == 0


async def test_put_without_id_is_400(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await client.put(f"/Patient/{pid}", json=builders.patient(), headers=FHIR_JSON)
    assert_outcome(response, 400)
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'


async def test_put_with_another_id_is_400(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await client.put(
        f"/Patient/{pid}", json={**builders.patient(), "id": "someone-else"}, headers=FHIR_JSON
    )
    assert_outcome(response, 400)
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'
    assert (await client.get("/Patient/someone-else")).status_code == 404


# --- invalid resources ----------------------------------------------------------------------

TOLVAN_REF = "Patient/tolvan"


def _patient(**changes: Any) -> dict[str, Any]:
    return {**builders.patient(), **changes}


INVALID: list[Any] = [
    pytest.param(
        "Patient", _patient(favouriteColour="blue"), "Patient.favouriteColour", id="unknown"
    ),
    pytest.param("Patient", _patient(active="true"), "Patient.active", id="string-for-boolean"),
    pytest.param("Patient", _patient(active=1), "Patient.active", id="number-for-boolean"),
    pytest.param("Patient", _patient(birthDate="1912-13-45"), "Patient.birthDate", id="bad-date"),
    pytest.param("Patient", _patient(birthDate=19121212), "Patient.birthDate", id="number-date"),
    pytest.param(
        "Patient",
        _patient(name=[{"family": "", "given": ["Tolvan"]}]),
        "Patient.name[0].family",
        id="empty-string",
    ),
    pytest.param("Patient", _patient(active=None), "Patient.active", id="null"),
    pytest.param("Patient", _patient(name=[]), "Patient.name", id="empty-array"),
    pytest.param("Patient", _patient(name={"family": "Tolvansson"}), "Patient.name", id="object"),
    pytest.param(
        "CarePlan",
        {k: v for k, v in builders.care_plan(TOLVAN_REF).items() if k != "status"},
        "CarePlan.status",
        id="missing-status",
    ),
    pytest.param(
        "CarePlan",
        {k: v for k, v in builders.care_plan(TOLVAN_REF).items() if k != "subject"},
        "CarePlan.subject",
        id="missing-subject",
    ),
    pytest.param(
        "Appointment",
        {
            **builders.appointment(TOLVAN_REF),
            "participant": [{"actor": {"reference": TOLVAN_REF}}],
        },
        "Appointment.participant[0].status",
        id="missing-participant-status",
    ),
]


@pytest.mark.parametrize(("resource_type", "body", "expression"), INVALID)
async def test_invalid_resource_is_422_pointing_at_the_element(
    client: httpx.AsyncClient, resource_type: str, body: dict[str, Any], expression: str
) -> None:
    created = await client.post(f"/{resource_type}", json=body, headers=FHIR_JSON)
    outcome = assert_outcome(created, 422)
    assert expression in expressions(outcome), outcome

    updated = await client.put(
        f"/{resource_type}/new-one", json={**body, "id": "new-one"}, headers=FHIR_JSON
    )
    outcome = assert_outcome(updated, 422)
    assert expression in expressions(outcome), outcome

    # Nothing was half-written: no version, no resource.
    assert (await client.get(f"/{resource_type}/new-one")).status_code == 404
    assert await history_size(client) == 0


async def test_invalid_update_keeps_the_current_version(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    pid = created["id"]
    response = await client.put(
        f"/Patient/{pid}",
        json={**builders.patient(), "id": pid, "active": "yes"},
        headers=FHIR_JSON,
    )
    assert "Patient.active" in expressions(assert_outcome(response, 422))
    assert (await client.get(f"/Patient/{pid}")).json() == created
    assert await history_size(client) == 1


async def test_invalid_patch_result_is_422(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    pid = created["id"]
    response = await client.patch(
        f"/Patient/{pid}",
        json=[{"op": "add", "path": "/active", "value": "yes"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert "Patient.active" in expressions(assert_outcome(response, 422))
    assert (await client.get(f"/Patient/{pid}")).json() == created


async def test_several_problems_give_several_issues(client: httpx.AsyncClient) -> None:
    body = _patient(active="true", birthDate="1912-13-45", favouriteColour="blue")
    outcome = assert_outcome(await client.post("/Patient", json=body, headers=FHIR_JSON), 422)
    found = expressions(outcome)
    assert "Patient.favouriteColour" in found
    assert len(outcome["issue"]) >= 2


# --- ids in URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["a_b", "x" * 65, "tolvan!", "åäö", "a%20b", "a:b"])
async def test_invalid_id_in_url_is_400(client: httpx.AsyncClient, bad_id: str) -> None:
    body = {**builders.patient(), "id": bad_id}
    assert_outcome(await client.get(f"/Patient/{bad_id}"), 400)
    assert_outcome(await client.put(f"/Patient/{bad_id}", json=body, headers=FHIR_JSON), 400)
    assert_outcome(await client.delete(f"/Patient/{bad_id}"), 400)
    assert_outcome(await client.get(f"/Patient/{bad_id}/_history"), 400)
    assert_outcome(await client.get(f"/Patient/{bad_id}/_history/1"), 400)
    assert await history_size(client) == 0


async def test_longest_valid_id_is_accepted(client: httpx.AsyncClient) -> None:
    rid = "A-z.0" + "9" * 59
    assert len(rid) == 64
    assert_outcome(await client.get(f"/Patient/{rid}"), 404)
    created = await client.put(
        f"/Patient/{rid}", json={**builders.patient(), "id": rid}, headers=FHIR_JSON
    )
    assert created.status_code == 201, created.text
    assert (await client.get(f"/Patient/{rid}")).json()["id"] == rid


# --- internal failures ----------------------------------------------------------------------


async def test_internal_failure_is_500_without_details(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret SQL detail: SELECT * FROM resource")

    monkeypatch.setattr(Repository, "current", broken)

    response = await client.get("/Patient/tolvan")

    body = assert_outcome(response, 500)
    assert body["issue"][0]["severity"] == "fatal"
    assert body["issue"][0]["code"] == "exception"
    text = response.text
    for leak in ("secret", "SELECT", "RuntimeError", "Traceback", "repository.py"):
        assert leak not in text


async def test_failure_during_a_write_leaves_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version is appended before the index is written; a failure then rolls both back."""

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret index failure")

    monkeypatch.setattr(Repository, "_replace_index", broken)

    created = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    put = await client.put(
        "/Patient/tolvan", json={**builders.patient(), "id": "tolvan"}, headers=FHIR_JSON
    )

    for response in (created, put):
        assert_outcome(response, 500)
        assert "secret" not in response.text
    monkeypatch.undo()
    assert await history_size(client) == 0
    assert (await client.get("/Patient/tolvan")).status_code == 404
    after = await client.put(
        "/Patient/tolvan", json={**builders.patient(), "id": "tolvan"}, headers=FHIR_JSON
    )
    assert after.status_code == 201
    assert after.headers["etag"] == 'W/"1"'


async def test_refused_identifier_leaves_nothing(client: httpx.AsyncClient) -> None:
    """An identifier too long to index is refused after the version row was written."""
    body = _patient(identifier=[{"system": "urn:example:long", "value": "7" * 600}])

    response = await client.post("/Patient", json=body, headers=FHIR_JSON)

    assert "Patient.identifier" in expressions(assert_outcome(response, 422))
    assert await history_size(client) == 0
    search = (await client.get("/Patient", params={"identifier": "urn:example:long|"})).json()
    assert "entry" not in search


async def test_error_bodies_do_not_echo_the_invalid_value(client: httpx.AsyncClient) -> None:
    """A personnummer sent with the wrong JSON kind is named by path, never by value."""
    identifier = {"system": builders.PERSONNUMMER_SYSTEM, "value": 191212121212}
    body = _patient(identifier=[identifier])
    response = await client.post("/Patient", content=orjson.dumps(body), headers=FHIR_JSON)
    outcome = assert_outcome(response, 422)
    assert "Patient.identifier[0].value" in expressions(outcome)
    assert "191212121212" not in response.text
