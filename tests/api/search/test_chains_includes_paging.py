"""Search above the single parameter: chains, `_has`, `_include`/`_revinclude`, `_sort`, paging.

Expected results come from search.html (R4) and the resources each test writes. Resources get
ids chosen by the test (update as create), so expected orders can be written down.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import pytest

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from tests.api import builders
from tests.api.builders import FHIR_JSON, PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER
from tests.api.search.helpers import BASE, link, patient, relative
from tests.conftest import SYSTEM_SCOPE, Tokens

pytestmark = pytest.mark.anyio

TOLVAN = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"
STRICT = {"Prefer": "handling=strict"}


# --- helpers -------------------------------------------------------------------------------


def with_id(resource: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {**resource, "id": resource_id}


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """Create (or update) `resource` under its own id; the stored resource."""
    url = f"/{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def seed(client: httpx.AsyncClient, *resources: dict[str, Any]) -> None:
    """Create all `resources` (each with its id) in one transaction."""
    entries = [
        {
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text


async def delete(client: httpx.AsyncClient, reference: str) -> None:
    response = await client.delete(f"/{reference}")
    assert response.status_code == 204, response.text


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """`status` with an OperationOutcome of at least one error issue."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert any(i["severity"] in ("error", "fatal") for i in body["issue"]), body
    return dict(body)


def assert_searchset(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "searchset"
    for entry in body.get("entry", []):
        if entry["search"]["mode"] != "outcome":
            resource = entry["resource"]
            assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
    return dict(body)


async def search(
    client: httpx.AsyncClient,
    path: str,
    params: list[tuple[str, str]] | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    return assert_searchset(await client.get(path, params=params, headers=headers))


def refs(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """`Type/id` of the entries with search.mode `mode`, in Bundle order."""
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def modes(bundle: dict[str, Any]) -> list[str]:
    return [e["search"]["mode"] for e in bundle.get("entry", [])]


def warnings(bundle: dict[str, Any]) -> list[str]:
    """Diagnostics of the warning issues in the outcome entries."""
    found = []
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == "outcome":
            assert entry["resource"]["resourceType"] == "OperationOutcome"
            found += [
                i["diagnostics"] for i in entry["resource"]["issue"] if i["severity"] == "warning"
            ]
    return found


def tolvan() -> dict[str, Any]:
    return with_id(builders.patient(), "tolvan")


def practitioner(resource_id: str, family: str, given: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": resource_id,
        "name": [{"family": family, "given": [given]}],
    }


def care_team(resource_id: str, *participants: str, subject: str = "Patient/tolvan") -> dict:
    team = with_id(builders.care_team(subject), resource_id)
    if participants:
        team["participant"] = [{"member": {"reference": p}} for p in participants]
    return team


def care_plan(
    resource_id: str,
    subject: str = "Patient/tolvan",
    *,
    status: str = "active",
    care_teams: tuple[str, ...] = (),
    performers: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    plan = with_id(builders.care_plan(subject), resource_id)
    plan["status"] = status
    if care_teams:
        plan["careTeam"] = [{"reference": t} for t in care_teams]
    if performers:
        plan["activity"] = [
            {
                "detail": {
                    "status": "scheduled",
                    "description": "Samtal",
                    "performer": [{"reference": p} for p in performers],
                }
            }
        ]
    plan.update(extra)
    return plan


# --- chaining (search.html#chaining) ----------------------------------------------------------


@pytest.fixture
async def network(client: httpx.AsyncClient) -> None:
    """Tolvan and Anna, practitioners, an organisation, a related person; teams and plans."""
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        practitioner("doc-berg", "Berg", "Karin"),
        practitioner("doc-lund", "Lund", "Olof"),
        {"resourceType": "Organization", "id": "org-berg", "name": "Bergs vårdcentral"},
        {
            "resourceType": "RelatedPerson",
            "id": "rp-maria",
            "patient": {"reference": "Patient/tolvan"},
            "name": [{"family": "Berg", "given": ["Maria"]}],
        },
        care_team("ct-doc", "Practitioner/doc-berg"),
        care_team("ct-self", "Patient/tolvan"),
        care_team("ct-org", "Organization/org-berg"),
        care_team("ct-kin", "RelatedPerson/rp-maria"),
        care_team("ct-lund", "Practitioner/doc-lund", subject="Patient/anna"),
        care_plan("cp-doc", care_teams=("CareTeam/ct-doc",)),
        care_plan("cp-self", status="draft", care_teams=("CareTeam/ct-self",)),
        care_plan("cp-org", care_teams=("CareTeam/ct-org",)),
        care_plan("cp-kin", status="completed", care_teams=("CareTeam/ct-kin",)),
        care_plan("cp-anna", "Patient/anna", care_teams=("CareTeam/ct-lund",)),
    )


@pytest.mark.usefixtures("network")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # One level, by the patient's personnummer.
        (
            {"patient.identifier": TOLVAN},
            ["cp-doc", "cp-kin", "cp-org", "cp-self"],
        ),
        ({"patient.identifier": "urn:test:patient|anna"}, ["cp-anna"]),
        # The target type named as a modifier.
        ({"subject:Patient.name": "tolvan"}, ["cp-doc", "cp-kin", "cp-org", "cp-self"]),
        ({"subject:Patient.name": "andersson"}, ["cp-anna"]),
        ({"subject.name": "ANNA"}, ["cp-anna"]),
        # A chain to _id, and a chain ANDed with an ordinary parameter.
        ({"patient._id": "anna"}, ["cp-anna"]),
        ({"patient.name": "tolvan", "status": "active"}, ["cp-doc", "cp-org"]),
        # Two levels: CarePlan -> CareTeam -> participant (any of its target types) -> name.
        ({"care-team.participant.name": "berg"}, ["cp-doc", "cp-kin", "cp-org"]),
        ({"care-team.participant:Practitioner.name": "berg"}, ["cp-doc"]),
        ({"care-team.participant:Practitioner.family": "lund"}, ["cp-anna"]),
        ({"care-team.participant:Patient.identifier": TOLVAN}, ["cp-self"]),
        ({"care-team.participant.name": "nobody"}, []),
    ],
)
async def test_chain(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    found = await search(client, "/CarePlan", {**params, "_sort": "_id"})
    assert refs(found) == [f"CarePlan/{i}" for i in expected]
    assert warnings(found) == []


@pytest.mark.usefixtures("network")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # participant refers to Practitioner, Organization, Patient, RelatedPerson, ...: the
        # chain looks into each type that has a `name` parameter.
        ("berg", ["ct-doc", "ct-kin", "ct-org"]),
        ("tolvansson", ["ct-self"]),
        ("maria", ["ct-kin"]),
        ("bergs v", ["ct-org"]),
    ],
)
async def test_chain_through_a_reference_with_several_target_types(
    client: httpx.AsyncClient, value: str, expected: list[str]
) -> None:
    found = await search(client, "/CareTeam", {"participant.name": value, "_sort": "_id"})
    assert refs(found) == [f"CareTeam/{i}" for i in expected]


@pytest.mark.usefixtures("network")
async def test_chain_with_a_type_modifier_only_follows_that_type(
    client: httpx.AsyncClient,
) -> None:
    by_type = {
        "Practitioner": ["CareTeam/ct-doc"],
        "Organization": ["CareTeam/ct-org"],
        "RelatedPerson": ["CareTeam/ct-kin"],
        "Patient": [],
    }
    for target, expected in by_type.items():
        found = await search(
            client, "/CareTeam", {f"participant:{target}.name": "berg", "_sort": "_id"}
        )
        assert refs(found) == expected, target


async def test_chain_does_not_follow_references_to_deleted_resources(
    client: httpx.AsyncClient,
) -> None:
    await seed(
        client,
        patient("gone", "Borttagen"),
        patient("kept", "Borttagen"),
        care_plan("cp-gone", "Patient/gone"),
        care_plan("cp-kept", "Patient/kept"),
    )
    found = await search(client, "/CarePlan", {"patient.name": "borttagen", "_sort": "_id"})
    assert refs(found) == ["CarePlan/cp-gone", "CarePlan/cp-kept"]
    await delete(client, "Patient/gone")
    found = await search(client, "/CarePlan", {"patient.name": "borttagen"})
    assert refs(found) == ["CarePlan/cp-kept"]


async def test_chain_follows_the_current_version_of_the_target(
    client: httpx.AsyncClient,
) -> None:
    await seed(client, patient("renamed", "Gammalnamn"), care_plan("cp-r", "Patient/renamed"))
    await put(client, patient("renamed", "Nyttnamn"))
    assert refs(await search(client, "/CarePlan", {"patient.name": "gammalnamn"})) == []
    found = await search(client, "/CarePlan", {"patient.name": "nyttnamn"})
    assert refs(found) == ["CarePlan/cp-r"]


@pytest.fixture
async def elsewhere(client: httpx.AsyncClient) -> None:
    """Plans for Tolvan here (relative, and absolute on this server's base), and one for a
    Patient/tolvan of another server, which is not this server's Tolvan (references.html)."""
    await seed(
        client,
        tolvan(),
        care_plan("cp-rel"),
        care_plan("cp-abs", f"{BASE}/Patient/tolvan"),
        care_plan("cp-ext", "http://elsewhere.example/fhir/Patient/tolvan"),
    )


@pytest.mark.usefixtures("elsewhere")
async def test_chain_does_not_follow_references_to_another_server(
    client: httpx.AsyncClient,
) -> None:
    found = await search(client, "/CarePlan", {"patient.identifier": TOLVAN, "_sort": "_id"})
    assert refs(found) == ["CarePlan/cp-abs", "CarePlan/cp-rel"]
    found = await search(client, "/Patient", {"_has:CarePlan:patient:_id": "cp-ext"})
    assert refs(found) == []
    found = await search(client, "/Patient", {"_has:CarePlan:patient:_id": "cp-abs"})
    assert refs(found) == ["Patient/tolvan"]


@pytest.mark.usefixtures("elsewhere")
async def test_include_does_not_follow_references_to_another_server(
    client: httpx.AsyncClient,
) -> None:
    found = await search(client, "/CarePlan", {"_id": "cp-ext", "_include": "CarePlan:subject"})
    assert refs(found) == ["CarePlan/cp-ext"]
    assert refs(found, "include") == []
    found = await search(client, "/CarePlan", {"_id": "cp-abs", "_include": "CarePlan:subject"})
    assert refs(found, "include") == ["Patient/tolvan"]
    found = await search(client, "/Patient", {"_id": "tolvan", "_revinclude": "CarePlan:subject"})
    assert sorted(refs(found, "include")) == ["CarePlan/cp-abs", "CarePlan/cp-rel"]
    found = await search(
        client,
        "/Patient",
        [("_id", "tolvan"), ("_revinclude:iterate", "CarePlan:subject")],
    )
    assert sorted(refs(found, "include")) == ["CarePlan/cp-abs", "CarePlan/cp-rel"]


@pytest.mark.usefixtures("network")
@pytest.mark.parametrize(
    "name",
    [
        "status.name",  # a token, not a reference
        "identifier.name",  # a token too
        "date.name",
        "subject:Bogus.name",  # not a resource type
        "subject:identifier.name",  # a modifier that names no type
        "care-team.status.name",  # the second link is no reference
    ],
)
async def test_chain_on_a_non_reference_is_400(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get("/CarePlan", params={name: "x"})
    assert_outcome(response, 400)


@pytest.mark.usefixtures("network")
async def test_chain_to_an_unknown_parameter_is_a_warning_or_400_when_strict(
    client: httpx.AsyncClient,
) -> None:
    params = {"patient.shoe-size": "42", "_sort": "_id", "_id": "cp-doc,cp-anna"}
    found = await search(client, "/CarePlan", params)
    # Ignored, with a warning naming it; the other criteria still apply.
    assert refs(found) == ["CarePlan/cp-anna", "CarePlan/cp-doc"]
    assert len(warnings(found)) == 1
    assert "shoe-size" in warnings(found)[0]
    assert_outcome(await client.get("/CarePlan", params=params, headers=STRICT), 400)


# --- reverse chaining: _has (search.html#has) --------------------------------------------------


@pytest.mark.usefixtures("network")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("_has:CarePlan:patient:status", "active")], ["anna", "tolvan"]),
        ([("_has:CarePlan:patient:status", "draft")], ["tolvan"]),
        ([("_has:CarePlan:patient:status", "completed,revoked")], ["tolvan"]),
        ([("_has:CarePlan:patient:status", "revoked")], []),
        ([("_has:CarePlan:subject:_id", "cp-anna")], ["anna"]),
        # Each _has stands on its own: two different plans may satisfy them.
        (
            [("_has:CarePlan:patient:status", "active"), ("_has:CarePlan:patient:status", "draft")],
            ["tolvan"],
        ),
        # _has with a chain inside.
        ([("_has:CareTeam:participant:subject.name", "andersson")], []),
        ([("_has:CareTeam:subject:participant.name", "lund")], ["anna"]),
        # Nested: patients in a team that an active plan names.
        ([("_has:CareTeam:participant:_has:CarePlan:care-team:status", "draft")], ["tolvan"]),
        ([("_has:CareTeam:participant:_has:CarePlan:care-team:status", "active")], []),
        # With an ordinary parameter.
        ([("_has:CarePlan:patient:status", "active"), ("name", "anna")], ["anna"]),
    ],
)
async def test_has(
    client: httpx.AsyncClient, params: list[tuple[str, str]], expected: list[str]
) -> None:
    found = await search(client, "/Patient", [*params, ("_sort", "_id")])
    assert refs(found) == [f"Patient/{i}" for i in expected]
    assert warnings(found) == []


@pytest.mark.usefixtures("network")
async def test_nested_has_finds_practitioners(client: httpx.AsyncClient) -> None:
    # Practitioners in a team whose plan is active: doc-berg (cp-doc) and doc-lund (cp-anna).
    params = {"_has:CareTeam:participant:_has:CarePlan:care-team:status": "active", "_sort": "_id"}
    found = await search(client, "/Practitioner", params)
    assert refs(found) == ["Practitioner/doc-berg", "Practitioner/doc-lund"]
    params["_has:CareTeam:participant:_has:CarePlan:care-team:status"] = "completed"
    assert refs(await search(client, "/Practitioner", params)) == []
    found = await search(client, "/RelatedPerson", {"_has:CareTeam:participant:status": "active"})
    assert refs(found) == ["RelatedPerson/rp-maria"]


async def test_has_ignores_deleted_referrers(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), care_plan("cp-1", status="on-hold"))
    found = await search(client, "/Patient", {"_has:CarePlan:patient:status": "on-hold"})
    assert refs(found) == ["Patient/tolvan"]
    await delete(client, "CarePlan/cp-1")
    assert refs(await search(client, "/Patient", {"_has:CarePlan:patient:status": "on-hold"})) == []


@pytest.mark.parametrize(
    "name",
    [
        "_has",
        "_has:CarePlan",
        "_has:CarePlan:patient",
        "_has:CarePlan:patient:",
        "_has:Bogus:patient:status",
        "_has:CarePlan:nothing:status",  # no such parameter
        "_has:CarePlan:status:status",  # not a reference
        "_has:CarePlan:care-team:status",  # care-team never refers to a Patient
        "_has:CarePlan:patient:_has:CareTeam",
    ],
)
async def test_malformed_has_is_400(client: httpx.AsyncClient, name: str) -> None:
    assert_outcome(await client.get("/Patient", params={name: "active"}), 400)


# --- _include and _revinclude (search.html#include) -----------------------------------------------


@pytest.fixture
async def plans(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        practitioner("doc-berg", "Berg", "Karin"),
        practitioner("doc-lund", "Lund", "Olof"),
        {"resourceType": "Organization", "id": "org-berg", "name": "Bergs vårdcentral"},
        care_team("ct-1", "Practitioner/doc-berg", "Patient/tolvan"),
        care_team("ct-2", "Practitioner/doc-lund", "Organization/org-berg"),
        care_plan(
            "cp-1",
            care_teams=("CareTeam/ct-1",),
            performers=("Practitioner/doc-berg", "Organization/org-berg"),
        ),
        care_plan("cp-2", care_teams=("CareTeam/ct-1", "CareTeam/ct-2")),
        care_plan("cp-3", "Patient/anna", status="draft", care_teams=("CareTeam/ct-2",)),
        care_plan("cp-4", "Patient/anna", status="draft"),
    )


def entry_count(bundle: dict[str, Any], reference: str) -> int:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
    ].count(reference)


@pytest.mark.usefixtures("plans")
async def test_include_by_reference_parameter(client: httpx.AsyncClient) -> None:
    found = await search(client, "/CarePlan", {"_id": "cp-1", "_include": "CarePlan:care-team"})
    assert refs(found) == ["CarePlan/cp-1"]
    assert refs(found, "include") == ["CareTeam/ct-1"]
    # Matches come first, then what they include.
    assert modes(found) == ["match", "include"]


@pytest.mark.usefixtures("plans")
async def test_included_resource_appears_once_even_when_referenced_twice(
    client: httpx.AsyncClient,
) -> None:
    params = [
        ("_id", "cp-1,cp-2"),
        ("_include", "CarePlan:care-team"),
        ("_include", "CarePlan:subject"),
        ("_include", "CarePlan:patient"),  # the same Patient again, by another parameter
        ("_sort", "_id"),
    ]
    found = await search(client, "/CarePlan", params)
    assert refs(found) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    assert sorted(refs(found, "include")) == ["CareTeam/ct-1", "CareTeam/ct-2", "Patient/tolvan"]
    for reference in ("CareTeam/ct-1", "Patient/tolvan"):
        assert entry_count(found, reference) == 1


@pytest.mark.usefixtures("plans")
async def test_include_with_target_type(client: httpx.AsyncClient) -> None:
    base = {"_id": "cp-1"}
    found = await search(client, "/CarePlan", {**base, "_include": "CarePlan:subject:Patient"})
    assert refs(found, "include") == ["Patient/tolvan"]
    found = await search(
        client, "/CarePlan", {**base, "_include": "CarePlan:performer:Practitioner"}
    )
    assert refs(found, "include") == ["Practitioner/doc-berg"]
    found = await search(
        client, "/CarePlan", {**base, "_include": "CarePlan:performer:Organization"}
    )
    assert refs(found, "include") == ["Organization/org-berg"]
    found = await search(client, "/CarePlan", {**base, "_include": "CarePlan:performer"})
    assert sorted(refs(found, "include")) == ["Organization/org-berg", "Practitioner/doc-berg"]
    found = await search(client, "/CarePlan", {**base, "_include": "CarePlan:subject:Practitioner"})
    assert refs(found, "include") == []


@pytest.mark.usefixtures("plans")
async def test_include_wildcard_follows_every_reference(client: httpx.AsyncClient) -> None:
    found = await search(client, "/CarePlan", {"_id": "cp-1", "_include": "CarePlan:*"})
    assert refs(found) == ["CarePlan/cp-1"]
    assert sorted(refs(found, "include")) == [
        "CareTeam/ct-1",
        "Organization/org-berg",
        "Patient/tolvan",
        "Practitioner/doc-berg",
    ]
    assert entry_count(found, "Patient/tolvan") == 1  # via subject and patient


@pytest.mark.usefixtures("plans")
async def test_revinclude(client: httpx.AsyncClient) -> None:
    params = {"_id": "ct-1", "_revinclude": "CarePlan:care-team"}
    found = await search(client, "/CareTeam", params)
    assert refs(found) == ["CareTeam/ct-1"]
    assert sorted(refs(found, "include")) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    found = await search(client, "/CareTeam", {**params, "_id": "ct-2"})
    assert sorted(refs(found, "include")) == ["CarePlan/cp-2", "CarePlan/cp-3"]
    found = await search(
        client, "/Patient", {"_id": "anna", "_revinclude": "CarePlan:subject", "_sort": "_id"}
    )
    assert refs(found) == ["Patient/anna"]
    assert sorted(refs(found, "include")) == ["CarePlan/cp-3", "CarePlan/cp-4"]


@pytest.mark.usefixtures("plans")
async def test_revinclude_follows_current_versions_only(client: httpx.AsyncClient) -> None:
    # cp-2 stops referring to ct-1; cp-1 is deleted: neither is included any more.
    await put(client, care_plan("cp-2", care_teams=("CareTeam/ct-2",)))
    await delete(client, "CarePlan/cp-1")
    found = await search(client, "/CareTeam", {"_id": "ct-1", "_revinclude": "CarePlan:care-team"})
    assert refs(found) == ["CareTeam/ct-1"]
    assert refs(found, "include") == []


@pytest.mark.usefixtures("plans")
async def test_include_iterate(client: httpx.AsyncClient) -> None:
    params = [
        ("_id", "cp-1"),
        ("_include", "CarePlan:care-team"),
        ("_include:iterate", "CareTeam:participant"),
    ]
    found = await search(client, "/CarePlan", params)
    assert refs(found) == ["CarePlan/cp-1"]
    assert sorted(refs(found, "include")) == [
        "CareTeam/ct-1",
        "Patient/tolvan",
        "Practitioner/doc-berg",
    ]
    # Without :iterate, CareTeam:participant only applies to the matches (CarePlans): nothing.
    found = await search(
        client,
        "/CarePlan",
        [("_id", "cp-1"), ("_include", "CarePlan:care-team"), ("_include", "CareTeam:participant")],
    )
    assert refs(found, "include") == ["CareTeam/ct-1"]


@pytest.mark.usefixtures("plans")
async def test_iterate_follows_what_earlier_rounds_added(client: httpx.AsyncClient) -> None:
    # Anna's plans (revinclude), the teams those plans name, and those teams' participants.
    params = [
        ("_id", "anna"),
        ("_revinclude", "CarePlan:subject"),
        ("_include:iterate", "CarePlan:care-team"),
        ("_include:iterate", "CareTeam:participant"),
    ]
    found = await search(client, "/Patient", params)
    assert refs(found) == ["Patient/anna"]
    assert sorted(refs(found, "include")) == [
        "CarePlan/cp-3",
        "CarePlan/cp-4",
        "CareTeam/ct-2",
        "Organization/org-berg",
        "Practitioner/doc-lund",
    ]


@pytest.mark.usefixtures("plans")
async def test_revinclude_iterate(client: httpx.AsyncClient) -> None:
    # The plans naming ct-2, and those plans' subjects.
    params = [
        ("_id", "ct-2"),
        ("_revinclude:iterate", "CarePlan:care-team"),
        ("_include:iterate", "CarePlan:subject"),
    ]
    found = await search(client, "/CareTeam", params)
    assert refs(found) == ["CareTeam/ct-2"]
    assert sorted(refs(found, "include")) == [
        "CarePlan/cp-2",
        "CarePlan/cp-3",
        "Patient/anna",
        "Patient/tolvan",
    ]


@pytest.mark.usefixtures("plans")
async def test_deleted_resources_are_not_included(client: httpx.AsyncClient) -> None:
    await delete(client, "CareTeam/ct-2")
    await delete(client, "Practitioner/doc-berg")
    params = [
        ("_id", "cp-2"),
        ("_include", "CarePlan:care-team"),
        ("_include:iterate", "CareTeam:participant"),
    ]
    found = await search(client, "/CarePlan", params)
    assert refs(found) == ["CarePlan/cp-2"]
    assert sorted(refs(found, "include")) == ["CareTeam/ct-1", "Patient/tolvan"]


@pytest.mark.usefixtures("plans")
async def test_a_match_is_not_repeated_as_an_include(client: httpx.AsyncClient) -> None:
    await put(client, care_plan("cp-5", partOf=[{"reference": "CarePlan/cp-1"}]))
    params = {"_id": "cp-1,cp-5", "_include": "CarePlan:part-of", "_sort": "_id"}
    found = await search(client, "/CarePlan", params)
    assert refs(found) == ["CarePlan/cp-1", "CarePlan/cp-5"]
    assert refs(found, "include") == []
    found = await search(client, "/CarePlan", {**params, "_id": "cp-5"})
    assert refs(found, "include") == ["CarePlan/cp-1"]


@pytest.mark.usefixtures("plans")
async def test_includes_of_a_page_only_concern_its_matches(client: httpx.AsyncClient) -> None:
    params = {"status": "active,draft", "_sort": "_id", "_count": "1"}
    params["_include"] = "CarePlan:care-team"
    pages = []
    url: str | None = "/CarePlan"
    query: dict[str, str] | None = params
    while url is not None:
        page = await search(client, url, query)
        pages.append((refs(page), sorted(refs(page, "include"))))
        next_url = link(page, "next")
        url, query = (relative(next_url), None) if next_url else (None, None)
    assert pages == [
        (["CarePlan/cp-1"], ["CareTeam/ct-1"]),
        (["CarePlan/cp-2"], ["CareTeam/ct-1", "CareTeam/ct-2"]),
        (["CarePlan/cp-3"], ["CareTeam/ct-2"]),
        (["CarePlan/cp-4"], []),
    ]


@pytest.mark.usefixtures("plans")
async def test_includes_of_pages_reached_backwards(client: httpx.AsyncClient) -> None:
    params = {"_sort": "_id", "_count": "1", "_revinclude": "CarePlan:care-team"}
    first = await search(client, "/CareTeam", params)
    assert refs(first) == ["CareTeam/ct-1"]
    assert sorted(refs(first, "include")) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    next_url = link(first, "next")
    assert next_url is not None
    second = await search(client, relative(next_url))
    assert refs(second) == ["CareTeam/ct-2"]
    assert sorted(refs(second, "include")) == ["CarePlan/cp-2", "CarePlan/cp-3"]
    assert link(second, "next") is None
    previous = link(second, "previous")
    assert previous is not None
    back = await search(client, relative(previous))
    assert refs(back) == ["CareTeam/ct-1"]
    assert sorted(refs(back, "include")) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    assert link(back, "previous") is None


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "CarePlan"),
        ("_include", "Bogus:care-team"),
        ("_include", "CarePlan:care-team:Bogus"),
        ("_include", "CarePlan:care-team:CareTeam:extra"),
        ("_include:sideways", "CarePlan:care-team"),
    ],
)
async def test_malformed_include_is_400(client: httpx.AsyncClient, name: str, value: str) -> None:
    assert_outcome(await client.get("/CarePlan", params={name: value}), 400)


@pytest.mark.usefixtures("plans")
async def test_include_by_an_unknown_or_non_reference_parameter(client: httpx.AsyncClient) -> None:
    for value in ("CarePlan:status", "CarePlan:shoe-size"):
        found = await search(client, "/CarePlan", {"_id": "cp-1", "_include": value})
        assert refs(found) == ["CarePlan/cp-1"]
        assert refs(found, "include") == []
        assert len(warnings(found)) == 1
        self_link = link(found, "self")
        assert self_link is not None
        assert "_include" not in self_link  # it names what was used (search.html#errors)
        response = await client.get(
            "/CarePlan", params={"_id": "cp-1", "_include": value}, headers=STRICT
        )
        assert_outcome(response, 400)


# --- _sort (search.html#sort) ---------------------------------------------------------------


@pytest.fixture
async def people(client: httpx.AsyncClient) -> list[str]:
    """Five patients, created one by one (so `_lastUpdated` orders them): the creation order."""
    order = ["pat-c", "pat-a", "pat-e", "pat-b", "pat-d"]
    resources = {
        "pat-a": patient("pat-a", "Berg", "Anna", birthDate="1980-01-01", gender="female"),
        "pat-b": patient("pat-b", "Berg", "Erik", birthDate="1975-05-05", gender="male"),
        "pat-c": patient("pat-c", "Åberg", "Anna", birthDate="1990-06-06", gender="female"),
        "pat-d": patient("pat-d", "Lund", "Bo", birthDate="1980-01-01", gender="male"),
        "pat-e": patient("pat-e", "Lund", "Bo", birthDate="1980-01-01", gender="male"),
    }
    for resource_id in order:
        await put(client, resources[resource_id])
        await anyio.sleep(0.005)  # lastUpdated has millisecond precision
    return order


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # Strings: Swedish order puts Å after Z. Ties (pat-d, pat-e) by _id.
        ("family", ["pat-a", "pat-b", "pat-d", "pat-e", "pat-c"]),
        ("family,given", ["pat-a", "pat-b", "pat-d", "pat-e", "pat-c"]),
        ("family,-given", ["pat-b", "pat-a", "pat-d", "pat-e", "pat-c"]),
        ("-family", ["pat-c", "pat-d", "pat-e", "pat-a", "pat-b"]),
        ("-family,-_id", ["pat-c", "pat-e", "pat-d", "pat-b", "pat-a"]),
        ("given,family", ["pat-a", "pat-c", "pat-d", "pat-e", "pat-b"]),
        # Dates.
        ("birthdate", ["pat-b", "pat-a", "pat-d", "pat-e", "pat-c"]),
        ("-birthdate", ["pat-c", "pat-a", "pat-d", "pat-e", "pat-b"]),
        ("birthdate,-_id", ["pat-b", "pat-e", "pat-d", "pat-a", "pat-c"]),
        # Tokens.
        ("gender,family", ["pat-a", "pat-c", "pat-b", "pat-d", "pat-e"]),
        ("-gender,-birthdate", ["pat-d", "pat-e", "pat-b", "pat-c", "pat-a"]),
        # _id.
        ("_id", ["pat-a", "pat-b", "pat-c", "pat-d", "pat-e"]),
        ("-_id", ["pat-e", "pat-d", "pat-c", "pat-b", "pat-a"]),
    ],
)
async def test_sort(client: httpx.AsyncClient, sort: str, expected: list[str]) -> None:
    found = await search(client, "/Patient", {"_sort": sort})
    assert refs(found) == [f"Patient/{i}" for i in expected]
    # The same order every time.
    again = await search(client, "/Patient", {"_sort": sort})
    assert refs(again) == refs(found)


async def test_sort_by_last_updated(client: httpx.AsyncClient, people: list[str]) -> None:
    found = await search(client, "/Patient", {"_sort": "_lastUpdated"})
    assert refs(found) == [f"Patient/{i}" for i in people]
    found = await search(client, "/Patient", {"_sort": "-_lastUpdated"})
    assert refs(found) == [f"Patient/{i}" for i in reversed(people)]
    # An update moves a resource to the end.
    await put(client, patient("pat-c", "Åberg", "Anna", birthDate="1990-06-06", gender="female"))
    found = await search(client, "/Patient", {"_sort": "_lastUpdated"})
    assert refs(found) == [f"Patient/{i}" for i in [*people[1:], "pat-c"]]


@pytest.mark.usefixtures("people")
async def test_missing_sort_values_come_last_both_ways(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "pat-0", "gender": "other"})
    ascending = await search(client, "/Patient", {"_sort": "family"})
    assert refs(ascending)[-1] == "Patient/pat-0"
    descending = await search(client, "/Patient", {"_sort": "-birthdate"})
    assert refs(descending)[-1] == "Patient/pat-0"


@pytest.mark.usefixtures("people")
async def test_sort_by_an_unknown_parameter_is_a_warning_or_400_when_strict(
    client: httpx.AsyncClient,
) -> None:
    found = await search(client, "/Patient", {"_sort": "shoe-size,-_id"})
    assert refs(found) == [f"Patient/pat-{c}" for c in "edcba"]
    assert len(warnings(found)) == 1
    assert "shoe-size" in warnings(found)[0]
    response = await client.get("/Patient", params={"_sort": "shoe-size"}, headers=STRICT)
    assert_outcome(response, 400)


async def test_sort_by_date_of_care_plans(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        tolvan(),
        care_plan("cp-1", period={"start": "2026-03-01"}),
        care_plan("cp-2", period={"start": "2025-12-24T10:00:00+01:00", "end": "2026-01-10"}),
        care_plan("cp-3", period={"start": "2026-03-01T08:00:00+01:00"}),
    )
    found = await search(client, "/CarePlan", {"_sort": "date"})
    assert refs(found) == ["CarePlan/cp-2", "CarePlan/cp-1", "CarePlan/cp-3"]
    found = await search(client, "/CarePlan", {"_sort": "-date"})
    assert refs(found) == ["CarePlan/cp-3", "CarePlan/cp-1", "CarePlan/cp-2"]


# --- paging (search.html#count, http.html#paging) ---------------------------------------------


async def all_pages(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    """Every page from the first, following `next`."""
    pages = [await search(client, path, params)]
    while (next_url := link(pages[-1], "next")) is not None:
        pages.append(await search(client, relative(next_url)))
        assert len(pages) < 50
    return pages


async def test_next_links_visit_every_match_once_in_order_and_previous_goes_back(
    client: httpx.AsyncClient, people: list[str]
) -> None:
    del people
    pages = await all_pages(client, "/Patient", {"_sort": "family,given", "_count": "2"})
    assert [refs(p) for p in pages] == [
        ["Patient/pat-a", "Patient/pat-b"],
        ["Patient/pat-d", "Patient/pat-e"],
        ["Patient/pat-c"],
    ]
    assert link(pages[0], "previous") is None
    assert all(link(p, "self") for p in pages)
    # Back from the last page to the first.
    back = [pages[-1]]
    while (previous := link(back[-1], "previous")) is not None:
        back.append(await search(client, relative(previous)))
        assert len(back) < 10
    assert [refs(p) for p in back] == [
        ["Patient/pat-c"],
        ["Patient/pat-d", "Patient/pat-e"],
        ["Patient/pat-a", "Patient/pat-b"],
    ]
    # The first page reached backwards has a next link, which leads forward again.
    forward = link(back[-1], "next")
    assert forward is not None
    assert refs(await search(client, relative(forward))) == ["Patient/pat-d", "Patient/pat-e"]


@pytest.mark.parametrize(
    "sort",
    [
        "family,given",
        "-birthdate",
        "birthdate,-family",
        "gender,-family",
        "-gender,birthdate",
        "_lastUpdated",
        "-_lastUpdated",
        "-_id",
    ],
)
@pytest.mark.parametrize("count", ["1", "2", "3"])
async def test_pages_put_together_are_the_whole_result_both_ways(
    client: httpx.AsyncClient, people: list[str], sort: str, count: str
) -> None:
    del people
    # Two more, without name or birth date: missing values take part in the cursor too.
    await seed(
        client,
        {"resourceType": "Patient", "id": "pat-x", "gender": "unknown"},
        {"resourceType": "Patient", "id": "pat-y"},
    )
    whole = refs(await search(client, "/Patient", {"_sort": sort, "_count": "100"}))
    assert len(whole) == 7
    pages = await all_pages(client, "/Patient", {"_sort": sort, "_count": count})
    assert [r for p in pages for r in refs(p)] == whole
    assert all(len(refs(p)) == int(count) for p in pages[:-1])
    back = [pages[-1]]
    while (previous := link(back[-1], "previous")) is not None:
        back.append(await search(client, relative(previous)))
        assert len(back) <= len(pages)
    assert [refs(p) for p in reversed(back)] == [refs(p) for p in pages]


async def test_paging_by_id_with_an_exact_multiple_of_count(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i}") for i in range(1, 5)))
    pages = await all_pages(client, "/CarePlan", {"_count": "2", "_sort": "-_id"})
    assert [refs(p) for p in pages] == [
        ["CarePlan/cp-4", "CarePlan/cp-3"],
        ["CarePlan/cp-2", "CarePlan/cp-1"],
    ]
    assert link(pages[-1], "next") is None


async def test_paging_keeps_its_place_while_resources_are_created_and_deleted(
    client: httpx.AsyncClient,
) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i:02}") for i in (2, 4, 6, 8, 10)))
    first = await search(client, "/CarePlan", {"_count": "2", "_sort": "_id"})
    shown = refs(first)
    assert shown == ["CarePlan/cp-02", "CarePlan/cp-04"]
    # Between page 1 and page 2: new plans before and after the position, and one already
    # shown is deleted. An offset would now repeat cp-04 or skip cp-06.
    await seed(client, care_plan("cp-01"), care_plan("cp-03"), care_plan("cp-07"))
    await delete(client, "CarePlan/cp-02")
    rest: list[str] = []
    next_url = link(first, "next")
    while next_url is not None:
        page = await search(client, relative(next_url))
        rest += refs(page)
        next_url = link(page, "next")
    assert not set(rest) & set(shown)
    assert len(rest) == len(set(rest))
    assert {"CarePlan/cp-06", "CarePlan/cp-08", "CarePlan/cp-10"} <= set(rest)
    assert rest == sorted(rest)


async def test_default_count_and_count_cap(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i:02}") for i in range(25)))
    found = await search(client, "/CarePlan", {"_sort": "_id"})
    assert refs(found) == [f"CarePlan/cp-{i:02}" for i in range(20)]  # default page size 20
    assert link(found, "next") is not None
    found = await search(client, "/CarePlan", {"_sort": "_id", "_count": "100000"})
    assert refs(found) == [f"CarePlan/cp-{i:02}" for i in range(25)]
    assert link(found, "next") is None


@pytest.fixture
async def small_pages(settings: Settings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A client (system token) of a server whose largest page is 3 (the default cap is 1000)."""
    application = create_app(settings.model_copy(update={"max_page_size": 3}))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    headers = tokens.headers(SYSTEM_SCOPE)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
        yield c
    await application.state.server.store.dispose()


async def test_count_above_the_maximum_is_capped(small_pages: httpx.AsyncClient) -> None:
    await seed(small_pages, tolvan(), *(care_plan(f"cp-{i}") for i in range(5)))
    first = await search(small_pages, "/CarePlan", {"_count": "1000", "_sort": "_id"})
    assert refs(first) == ["CarePlan/cp-0", "CarePlan/cp-1", "CarePlan/cp-2"]
    next_url = link(first, "next")
    assert next_url is not None
    second = await search(small_pages, relative(next_url))
    assert refs(second) == ["CarePlan/cp-3", "CarePlan/cp-4"]


async def test_count_above_the_default_maximum_of_1000_is_capped(
    client: httpx.AsyncClient,
) -> None:
    await seed(client, *({"resourceType": "Patient", "id": f"p-{i:04}"} for i in range(1001)))
    first = await search(client, "/Patient", {"_count": "5000", "_sort": "_id"})
    assert refs(first) == [f"Patient/p-{i:04}" for i in range(1000)]
    next_url = link(first, "next")
    assert next_url is not None
    assert refs(await search(client, relative(next_url))) == ["Patient/p-1000"]


async def test_count_zero_gives_the_total_only(client: httpx.AsyncClient) -> None:
    # search.html#count: _count=0 is treated as _summary=count.
    await seed(client, tolvan(), *(care_plan(f"cp-{i}") for i in range(3)))
    found = await search(client, "/CarePlan", {"_count": "0"})
    assert "entry" not in found
    assert found["total"] == 3
    assert link(found, "next") is None


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "²", "2,3"])
async def test_bad_count_is_400(client: httpx.AsyncClient, value: str) -> None:
    assert_outcome(await client.get("/CarePlan", params={"_count": value}), 400)


def tamper(url: str, part: int) -> str:
    """`url` with one character of its `_page` cursor's payload (0) or signature (1) changed."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    token = dict(pairs)["_page"]
    pieces = token.split(".")
    assert len(pieces) == 2, token
    piece = pieces[part]
    index = len(piece) // 2
    pieces[part] = piece[:index] + ("A" if piece[index] != "A" else "B") + piece[index + 1 :]
    changed = [(k, ".".join(pieces) if k == "_page" else v) for k, v in pairs]
    return urlsplit(url).path[len("/fhir") :] + "?" + httpx.QueryParams(changed).__str__()


async def test_tampered_page_cursor_is_400(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i}") for i in range(4)))
    first = await search(client, "/CarePlan", {"_count": "2", "_sort": "_id"})
    next_url = link(first, "next")
    assert next_url is not None
    assert refs(await search(client, relative(next_url))) == ["CarePlan/cp-2", "CarePlan/cp-3"]
    for part in (0, 1):
        assert_outcome(await client.get(tamper(next_url, part)), 400)


async def test_forged_page_cursor_is_400(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i}") for i in range(4)))
    payload = base64.urlsafe_b64encode(b'{"p":{"d":"a","k":["CarePlan","cp-0"]}}').decode()
    for token in (payload + ".AAAA", "x", "", "...", payload):
        response = await client.get("/CarePlan", params={"_count": "2", "_page": token})
        assert_outcome(response, 400)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "draft"},  # another criterion
        {"_count": "3"},
        {"_sort": "-_id"},
    ],
)
async def test_page_cursor_reused_with_other_parameters_is_400(
    client: httpx.AsyncClient, change: dict[str, str]
) -> None:
    await seed(client, tolvan(), *(care_plan(f"cp-{i}") for i in range(4)))
    params = {"status": "active", "_count": "2", "_sort": "_id"}
    first = await search(client, "/CarePlan", params)
    next_url = link(first, "next")
    assert next_url is not None
    token = dict(parse_qsl(urlsplit(next_url).query))["_page"]
    response = await client.get("/CarePlan", params={**params, **change, "_page": token})
    assert_outcome(response, 400)
    # Another resource type with the same parameters.
    response = await client.get("/CareTeam", params={**params, "_page": token})
    assert_outcome(response, 400)
    # The cursor as issued still works.
    assert refs(await search(client, "/CarePlan", {**params, "_page": token})) == [
        "CarePlan/cp-2",
        "CarePlan/cp-3",
    ]
