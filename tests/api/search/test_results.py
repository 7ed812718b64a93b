"""What a search returns and where it can be asked: `_summary`, `_elements`, `_total`,
`POST _search`, system and compartment search, unknown parameters, and the conditional
interactions and bundle entries that now search (search.html, http.html, transaction.html).
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER
from tests.api.search.helpers import BASE, link, patient, relative

pytestmark = pytest.mark.anyio

TOLVAN = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"
STRICT = {"Prefer": "handling=strict"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
NARRATIVE = {
    "status": "generated",
    "div": '<div xmlns="http://www.w3.org/1999/xhtml">Patientkontrakt för Tolvan</div>',
}


# --- helpers -------------------------------------------------------------------------------


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """Create (or update) `resource` under its own id; the stored resource."""
    url = f"/{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def seed(client: httpx.AsyncClient, *resources: dict[str, Any]) -> None:
    """Create all `resources` (each with its id) in one transaction."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text


async def read(client: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    response = await client.get(f"/{reference}")
    assert response.status_code == 200, response.text
    return dict(response.json())


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
    return checked_searchset(response.json())


def checked_searchset(body: dict[str, Any]) -> dict[str, Any]:
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "searchset"
    for entry in body.get("entry", []):
        if entry["search"]["mode"] != "outcome":
            resource = entry["resource"]
            assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
    return body


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


def outcome_issues(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues of the OperationOutcome entries (search.mode `outcome`)."""
    issues: list[dict[str, Any]] = []
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == "outcome":
            assert entry["resource"]["resourceType"] == "OperationOutcome"
            assert "fullUrl" not in entry or entry["fullUrl"]
            issues += entry["resource"]["issue"]
    return issues


def tolvan() -> dict[str, Any]:
    return {**builders.patient(), "id": "tolvan"}


def care_plan(
    resource_id: str, subject: str = "Patient/tolvan", status: str = "active", **extra: Any
) -> dict[str, Any]:
    return {**builders.care_plan(subject), "id": resource_id, "status": status, **extra}


def appointment(resource_id: str, actor: str) -> dict[str, Any]:
    return {**builders.appointment(actor), "id": resource_id}


async def count(client: httpx.AsyncClient, resource_type: str) -> int:
    found = await search(client, f"/{resource_type}", {"_summary": "count"})
    return int(found["total"])


# --- _summary and _elements (search.html#summary, #elements) ----------------------------------


def full_care_plan() -> dict[str, Any]:
    return care_plan(
        "cp-full",
        text=NARRATIVE,
        identifier=[{"system": "urn:test:careplan", "value": "full-1"}],
        category=[{"text": "Patientkontrakt"}],
        description="Plan för vården",
        period={"start": "2026-11-01"},
        created="2026-11-01",
        careTeam=[{"reference": "CareTeam/ct-1"}],
        note=[{"text": "Ring vid behov"}],
        activity=[{"detail": {"status": "scheduled", "description": "Samtal"}}],
        meta={"tag": [{"system": "urn:test:tag", "code": "demo"}]},
    )


@pytest.fixture
async def stored_plan(client: httpx.AsyncClient) -> dict[str, Any]:
    await seed(client, tolvan(), full_care_plan(), care_plan("cp-2", status="draft"))
    return await read(client, "CarePlan/cp-full")


def subsetted_meta(stored: dict[str, Any]) -> dict[str, Any]:
    return {**stored["meta"], "tag": [*stored["meta"].get("tag", []), SUBSETTED]}


def only(stored: dict[str, Any], *names: str) -> dict[str, Any]:
    """`stored` reduced to resourceType, id, meta (tagged SUBSETTED) and `names`."""
    kept = {k: v for k, v in stored.items() if k in names or k in ("resourceType", "id")}
    return {**kept, "meta": subsetted_meta(stored)}


async def single(client: httpx.AsyncClient, params: dict[str, str]) -> dict[str, Any]:
    found = await search(client, "/CarePlan", {"_id": "cp-full", **params})
    assert refs(found) == ["CarePlan/cp-full"]
    return dict(found["entry"][0]["resource"])


async def test_summary_count(client: httpx.AsyncClient, stored_plan: dict[str, Any]) -> None:
    del stored_plan
    found = await search(client, "/CarePlan", {"_summary": "count"})
    assert found["total"] == 2
    assert "entry" not in found
    found = await search(client, "/CarePlan", {"_summary": "count", "status": "draft"})
    assert found["total"] == 1
    assert "entry" not in found
    found = await search(client, "/CarePlan", {"_summary": "count", "status": "revoked"})
    assert found["total"] == 0


async def test_summary_true(client: httpx.AsyncClient, stored_plan: dict[str, Any]) -> None:
    # CarePlan's summary elements (isSummary in R4) that cp-full has; not text, careTeam,
    # note, activity.
    resource = await single(client, {"_summary": "true"})
    assert resource == only(
        stored_plan,
        "identifier",
        "status",
        "intent",
        "category",
        "title",
        "description",
        "subject",
        "period",
        "created",
    )


async def test_summary_true_of_a_patient(client: httpx.AsyncClient) -> None:
    stored = await put(
        client,
        {
            **tolvan(),
            "text": NARRATIVE,
            "maritalStatus": {"text": "Ogift"},
            "communication": [{"language": {"text": "svenska"}}],
            "contact": [{"name": {"family": "Tolvansson", "given": ["Tolvina"]}}],
        },
    )
    found = await search(client, "/Patient", {"_summary": "true"})
    assert refs(found) == ["Patient/tolvan"]
    assert found["entry"][0]["resource"] == only(
        stored, "identifier", "name", "gender", "birthDate"
    )
    # The stored resource itself is unchanged.
    assert await read(client, "Patient/tolvan") == stored


async def test_summary_text(client: httpx.AsyncClient, stored_plan: dict[str, Any]) -> None:
    # text, id, meta and the mandatory top-level elements (status, intent, subject are 1..1).
    resource = await single(client, {"_summary": "text"})
    assert resource == only(stored_plan, "text", "status", "intent", "subject")


async def test_summary_data(client: httpx.AsyncClient, stored_plan: dict[str, Any]) -> None:
    resource = await single(client, {"_summary": "data"})
    assert "text" not in resource
    without_text = {k: v for k, v in stored_plan.items() if k not in ("text", "meta")}
    assert {k: v for k, v in resource.items() if k != "meta"} == without_text
    assert {k: v for k, v in resource["meta"].items() if k != "tag"} == {
        k: v for k, v in stored_plan["meta"].items() if k != "tag"
    }


async def test_summary_false_is_the_whole_resource(
    client: httpx.AsyncClient, stored_plan: dict[str, Any]
) -> None:
    assert await single(client, {"_summary": "false"}) == stored_plan
    assert await single(client, {}) == stored_plan


async def test_elements(client: httpx.AsyncClient, stored_plan: dict[str, Any]) -> None:
    resource = await single(client, {"_elements": "status,subject"})
    # The mandatory intent is kept too.
    assert resource == only(stored_plan, "status", "subject", "intent")
    resource = await single(client, {"_elements": "title,note"})
    assert resource == only(stored_plan, "title", "note", "status", "intent", "subject")


async def test_elements_of_several_types(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), appointment("ap-1", "Patient/tolvan"))
    stored = await read(client, "Patient/tolvan")
    found = await search(client, "/Patient", {"_elements": "name"})
    assert found["entry"][0]["resource"] == only(stored, "name")
    stored_appointment = await read(client, "Appointment/ap-1")
    found = await search(client, "/Appointment", {"_elements": "start"})
    # Appointment.status and .participant are mandatory.
    assert found["entry"][0]["resource"] == only(
        stored_appointment, "start", "status", "participant"
    )


async def test_elements_names_a_choice_element_by_its_base_name(
    client: httpx.AsyncClient,
) -> None:
    # deceased[x] is asked for as `deceased` (search.html#elements names elements, and the
    # element is deceased[x]); the JSON holds it as deceasedDateTime.
    stored = await put(client, {**tolvan(), "deceasedDateTime": "2026-11-01T10:00:00+01:00"})
    found = await search(client, "/Patient", {"_elements": "deceased"})
    assert found["entry"][0]["resource"] == only(stored, "deceasedDateTime")
    found = await search(client, "/Patient", {"_elements": "gender"})
    assert found["entry"][0]["resource"] == only(stored, "gender")


@pytest.mark.parametrize(
    ("name", "value"),
    [("_summary", "maybe"), ("_summary", "TRUE"), ("_summary", ""), ("_total", "exact")],
)
async def test_bad_summary_or_total_is_400(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    assert_outcome(await client.get("/CarePlan", params={name: value}), 400)


# --- _total (search.html#total) -----------------------------------------------------------------


@pytest.fixture
async def five_plans(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        *(care_plan(f"cp-{i}") for i in range(1, 6)),
        care_plan("cp-draft", status="draft"),
    )


@pytest.mark.usefixtures("five_plans")
@pytest.mark.parametrize("total", ["accurate", "estimate"])
async def test_total_counts_every_match_not_just_the_page(
    client: httpx.AsyncClient, total: str
) -> None:
    params = {"status": "active", "_count": "2", "_sort": "_id", "_total": total}
    params["_include"] = "CarePlan:subject"
    first = await search(client, "/CarePlan", params)
    assert refs(first) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    assert refs(first, "include") == ["Patient/tolvan"]
    assert first["total"] == 5  # matches only: not the draft, not the included Patient
    next_url = link(first, "next")
    assert next_url is not None
    second = await search(client, relative(next_url))
    assert refs(second) == ["CarePlan/cp-3", "CarePlan/cp-4"]
    assert second["total"] == 5
    nothing = await search(client, "/CarePlan", {"status": "revoked", "_total": total})
    assert nothing["total"] == 0
    assert "entry" not in nothing


@pytest.mark.usefixtures("five_plans")
@pytest.mark.parametrize("params", [{"_total": "none"}, {}])
async def test_no_total_unless_asked(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    found = await search(client, "/CarePlan", {"status": "active", "_count": "2", **params})
    assert len(refs(found)) == 2
    assert "total" not in found


# --- POST [type]/_search (http.html#search) ------------------------------------------------------


@pytest.mark.usefixtures("five_plans")
async def test_post_search_gives_the_same_result_as_get(client: httpx.AsyncClient) -> None:
    await put(client, care_plan("cp-anna", "Patient/anna"))
    params = {"patient": "Patient/tolvan", "status": "active", "_sort": "-_id"}
    by_get = await search(client, "/CarePlan", params)
    response = await client.post("/CarePlan/_search", data=params, headers=FORM)
    by_post = assert_searchset(response)
    assert refs(by_post) == refs(by_get) == [f"CarePlan/cp-{i}" for i in range(5, 0, -1)]
    # Parameters in the URL and in the body are combined.
    response = await client.post(
        "/CarePlan/_search?status=active", data={"subject:Patient.name": "anna"}, headers=FORM
    )
    assert refs(assert_searchset(response)) == ["CarePlan/cp-anna"]


@pytest.mark.usefixtures("five_plans")
async def test_post_search_pages_by_get(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/CarePlan/_search",
        content="status=active&_count=3&_sort=_id",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    first = assert_searchset(response)
    assert refs(first) == ["CarePlan/cp-1", "CarePlan/cp-2", "CarePlan/cp-3"]
    next_url = link(first, "next")
    assert next_url is not None
    assert refs(await search(client, relative(next_url))) == ["CarePlan/cp-4", "CarePlan/cp-5"]


async def test_post_search_with_swedish_letters(client: httpx.AsyncClient) -> None:
    await seed(client, patient("p-1", "Åström", "Örjan"), patient("p-2", "Astrom", "Orjan"))
    response = await client.post("/Patient/_search", data={"name": "åström"}, headers=FORM)
    assert refs(assert_searchset(response)) == ["Patient/p-1"]


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "application/fhir+json"}, {"Content-Type": "text/plain"}, {}],
)
async def test_post_search_needs_a_form_body(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/CarePlan/_search", content=b"status=active", headers=headers)
    assert_outcome(response, 415)


# --- system search (http.html#search, search.html#searchtypes) ----------------------------------


@pytest.fixture
async def mixed(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        care_plan("cp-1"),
        care_plan("cp-2", "Patient/anna", status="draft"),
        {**builders.care_team("Patient/tolvan"), "id": "ct-1"},
        {**builders.organization(), "id": "org-1"},
    )


@pytest.mark.usefixtures("mixed")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"_type": "Patient,CarePlan", "_id": "tolvan,cp-1,ct-1"},
            ["CarePlan/cp-1", "Patient/tolvan"],
        ),
        ({"_id": "tolvan,ct-1,nobody"}, ["CareTeam/ct-1", "Patient/tolvan"]),
        ({"_type": "CareTeam,Organization"}, ["CareTeam/ct-1", "Organization/org-1"]),
        ({"_type": "Patient", "name": "anna"}, ["Patient/anna"]),  # one type: its parameters
        ({"_type": "CarePlan", "_id:not": "cp-1"}, ["CarePlan/cp-2"]),
    ],
)
async def test_system_search(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    found = await search(client, "", {**params, "_sort": "_id"})
    assert sorted(refs(found)) == expected
    assert outcome_issues(found) == []


@pytest.mark.usefixtures("mixed")
async def test_system_search_pages(client: httpx.AsyncClient) -> None:
    params = {"_type": "Patient,CarePlan,CareTeam", "_count": "2", "_sort": "_id"}
    seen: list[str] = []
    page = await search(client, "", params)
    while True:
        seen += refs(page)
        next_url = link(page, "next")
        if next_url is None:
            break
        page = await search(client, relative(next_url))
    # By id, then type.
    assert seen == [
        "Patient/anna",
        "CarePlan/cp-1",
        "CarePlan/cp-2",
        "CareTeam/ct-1",
        "Patient/tolvan",
    ]


@pytest.mark.usefixtures("mixed")
async def test_system_search_by_last_updated(client: httpx.AsyncClient) -> None:
    await anyio.sleep(0.01)
    await seed(client, patient("late", "Senare"), care_plan("cp-late", "Patient/late"))
    moments = [
        (await read(client, ref))["meta"]["lastUpdated"]
        for ref in ("Patient/late", "CarePlan/cp-late")
    ]
    since = min(moments)
    params = {"_type": "Patient,CarePlan,CareTeam", "_lastUpdated": f"ge{since}", "_sort": "_id"}
    found = await search(client, "", params)
    assert sorted(refs(found)) == ["CarePlan/cp-late", "Patient/late"]
    found = await search(client, "", {**params, "_lastUpdated": f"lt{since}"})
    assert sorted(refs(found)) == [
        "CarePlan/cp-1",
        "CarePlan/cp-2",
        "CareTeam/ct-1",
        "Patient/anna",
        "Patient/tolvan",
    ]


async def test_system_search_by_tag_spans_every_type(client: httpx.AsyncClient) -> None:
    tag = {"meta": {"tag": [{"system": "urn:test:tag", "code": "utvald"}]}}
    await seed(
        client,
        {**tolvan(), **tag},
        patient("anna", "Andersson", "Anna"),
        care_plan("cp-1", **tag),
        care_plan("cp-2"),
        # Same id as a tagged resource of another type, untagged.
        {**care_plan("tolvan"), "id": "tolvan"},
    )
    found = await search(
        client, "", {"_type": "Patient,CarePlan", "_tag": "urn:test:tag|utvald", "_sort": "_id"}
    )
    assert sorted(refs(found)) == ["CarePlan/cp-1", "Patient/tolvan"]
    found = await search(client, "", {"_tag": "urn:test:tag|utvald"})
    assert sorted(refs(found)) == ["CarePlan/cp-1", "Patient/tolvan"]


@pytest.mark.usefixtures("mixed")
async def test_type_specific_parameter_at_system_level(client: httpx.AsyncClient) -> None:
    params = {"_type": "Patient,CarePlan", "status": "draft"}
    found = await search(client, "", params)
    # Lenient: ignored (every Patient and CarePlan), with a warning naming it.
    assert sorted(refs(found)) == [
        "CarePlan/cp-1",
        "CarePlan/cp-2",
        "Patient/anna",
        "Patient/tolvan",
    ]
    issues = outcome_issues(found)
    assert [i["severity"] for i in issues] == ["warning"]
    assert "status" in issues[0]["diagnostics"]
    assert_outcome(await client.get("", params=params, headers=STRICT), 400)


# --- compartment search (compartmentdefinition-patient.html) -------------------------------


@pytest.fixture
async def compartments(client: httpx.AsyncClient) -> None:
    performer = {
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "description": "Egenvård",
                    "performer": [{"reference": "Patient/tolvan"}],
                }
            }
        ]
    }
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        care_plan("cp-1"),
        care_plan("cp-2", status="draft"),
        care_plan("cp-3", "Patient/anna"),
        care_plan("cp-4", "Patient/anna", **performer),  # Tolvan performs it
        appointment("ap-1", "Patient/tolvan"),
        appointment("ap-2", "Patient/anna"),
        {**builders.care_team("Patient/tolvan"), "id": "ct-1"},
        {**builders.organization(), "id": "org-1"},
        # Another server's Patient/tolvan is not this server's Tolvan.
        care_plan("cp-ext", "http://elsewhere.example/fhir/Patient/tolvan"),
        appointment("ap-ext", "http://elsewhere.example/fhir/Patient/tolvan"),
        # This server's Tolvan by absolute URL.
        appointment("ap-abs", f"{BASE}/Patient/tolvan"),
    )


@pytest.mark.usefixtures("compartments")
@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/Patient/tolvan/CarePlan", {}, ["CarePlan/cp-1", "CarePlan/cp-2", "CarePlan/cp-4"]),
        ("/Patient/tolvan/CarePlan", {"status": "draft"}, ["CarePlan/cp-2"]),
        ("/Patient/tolvan/CarePlan", {"patient": "Patient/anna"}, ["CarePlan/cp-4"]),
        ("/Patient/tolvan/CarePlan", {"status": "active"}, ["CarePlan/cp-1", "CarePlan/cp-4"]),
        ("/Patient/anna/CarePlan", {}, ["CarePlan/cp-3", "CarePlan/cp-4"]),
        ("/Patient/anna/CarePlan", {"status": "draft"}, []),
        ("/Patient/tolvan/Appointment", {}, ["Appointment/ap-1", "Appointment/ap-abs"]),
        ("/Patient/anna/Appointment", {}, ["Appointment/ap-2"]),
        ("/Patient/tolvan/CareTeam", {}, ["CareTeam/ct-1"]),
        ("/Patient/nobody/CarePlan", {}, []),
    ],
)
async def test_compartment_search(
    client: httpx.AsyncClient, path: str, params: dict[str, str], expected: list[str]
) -> None:
    found = await search(client, path, {**params, "_sort": "_id"})
    assert refs(found) == expected


@pytest.mark.usefixtures("compartments")
async def test_compartment_search_pages_within_the_compartment(client: httpx.AsyncClient) -> None:
    first = await search(
        client, "/Patient/tolvan/CarePlan", {"_count": "2", "_sort": "_id", "_total": "accurate"}
    )
    assert refs(first) == ["CarePlan/cp-1", "CarePlan/cp-2"]
    assert first["total"] == 3
    next_url = link(first, "next")
    assert next_url is not None
    assert relative(next_url).startswith("/Patient/tolvan/CarePlan?")
    second = await search(client, relative(next_url))
    assert refs(second) == ["CarePlan/cp-4"]
    assert link(second, "next") is None
    # The cursor belongs to Tolvan's compartment, not Anna's.
    stolen = relative(next_url).replace("/Patient/tolvan/", "/Patient/anna/")
    assert_outcome(await client.get(stolen), 400)


@pytest.mark.usefixtures("compartments")
@pytest.mark.parametrize(
    "path",
    [
        "/Patient/tolvan/Organization",  # not in the Patient compartment
        "/Patient/tolvan/Practitioner",
        "/Patient/tolvan/Bogus",
        "/CareTeam/ct-1/CarePlan",  # only Patient compartments
        "/Organization/org-1/CarePlan",
    ],
)
async def test_compartment_search_outside_the_patient_compartment_is_404(
    client: httpx.AsyncClient, path: str
) -> None:
    assert_outcome(await client.get(path), 404)


# --- unknown parameters (search.html#errors) --------------------------------------------------


@pytest.mark.usefixtures("five_plans")
async def test_unknown_parameter_is_ignored_with_a_warning(client: httpx.AsyncClient) -> None:
    params = [("status", "draft"), ("shoe-size", "42"), ("_sort", "_id")]
    found = await search(client, "/CarePlan", params)
    assert refs(found) == ["CarePlan/cp-draft"]
    issues = outcome_issues(found)
    assert len(issues) == 1
    assert issues[0]["severity"] == "warning"
    assert "shoe-size" in issues[0]["diagnostics"]
    # The outcome entry comes after the matches.
    assert [e["search"]["mode"] for e in found["entry"]] == ["match", "outcome"]
    # The self link names the parameters used, not the ignored one.
    self_link = link(found, "self")
    assert self_link is not None
    assert "status=draft" in self_link
    assert "shoe-size" not in self_link


@pytest.mark.usefixtures("five_plans")
async def test_unknown_parameters_are_each_named(client: httpx.AsyncClient) -> None:
    found = await search(
        client, "/CarePlan", {"shoe-size": "42", "hair-colour": "red", "_summary": "count"}
    )
    assert found["total"] == 6
    diagnostics = " ".join(i["diagnostics"] for i in outcome_issues(found))
    assert "shoe-size" in diagnostics
    assert "hair-colour" in diagnostics


@pytest.mark.usefixtures("five_plans")
@pytest.mark.parametrize(
    "prefer", ["handling=strict", "return=minimal, handling=strict", "handling = strict"]
)
async def test_unknown_parameter_with_strict_handling_is_400(
    client: httpx.AsyncClient, prefer: str
) -> None:
    response = await client.get(
        "/CarePlan", params={"status": "draft", "shoe-size": "42"}, headers={"Prefer": prefer}
    )
    body = assert_outcome(response, 400)
    assert "shoe-size" in body["issue"][0]["diagnostics"]
    # Strict handling changes nothing for a search the server understands.
    found = await search(client, "/CarePlan", {"status": "draft"}, headers={"Prefer": prefer})
    assert refs(found) == ["CarePlan/cp-draft"]
    assert outcome_issues(found) == []


# --- conditional interactions (http.html#cond-update, #ccreate, #cond-delete) ---------------


async def test_conditional_create_with_any_criteria(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), patient("anna", "Andersson", "Anna"))
    new = builders.patient()
    response = await client.post(
        "/Patient",
        json=new,
        headers={**FHIR_JSON, "If-None-Exist": "name=tolvansson&birthdate=1912-12-12"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "tolvan"
    assert await count(client, "Patient") == 2
    # Another birth date: no match, created.
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "If-None-Exist": "name=tolvansson&birthdate=1912-12-13"},
    )
    assert response.status_code == 201, response.text
    assert await count(client, "Patient") == 3
    # Now two match.
    response = await client.post(
        "/Patient",
        json=builders.patient(),
        headers={**FHIR_JSON, "If-None-Exist": "name=tolvansson&birthdate=1912"},
    )
    assert_outcome(response, 412)
    assert await count(client, "Patient") == 3


async def test_conditional_update_with_any_criteria(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), patient("anna", "Andersson", "Anna"))
    changed = patient("ignored", "Andersson", "Anna", gender="female")
    del changed["id"]
    response = await client.put(
        "/Patient?family=andersson&given=anna", json=changed, headers=FHIR_JSON
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "anna"
    assert response.json()["meta"]["versionId"] == "2"
    assert (await read(client, "Patient/anna"))["gender"] == "female"
    # No match: created.
    response = await client.put("/Patient?family=berg", json=changed, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    assert response.json()["id"] not in ("anna", "tolvan")
    # Several match (both Andersson now).
    response = await client.put("/Patient?family=andersson", json=changed, headers=FHIR_JSON)
    assert_outcome(response, 412)
    assert await count(client, "Patient") == 3


async def test_conditional_delete_with_any_criteria(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        care_plan("cp-1"),
        care_plan("cp-2", status="draft"),
        care_plan("cp-3", "Patient/anna", status="draft"),
    )
    response = await client.delete("/CarePlan?patient=Patient/tolvan&status=draft")
    assert response.status_code == 204, response.text
    assert (await client.get("/CarePlan/cp-2")).status_code == 410
    found = await search(client, "/CarePlan", {"_sort": "_id"})
    assert refs(found) == ["CarePlan/cp-1", "CarePlan/cp-3"]
    # Several match: 412, nothing deleted.
    await put(client, care_plan("cp-4", "Patient/anna", status="draft"))
    assert_outcome(await client.delete("/CarePlan?status=draft"), 412)
    # A chain as the criterion.
    response = await client.delete(f"/CarePlan?patient.identifier={TOLVAN}")
    assert response.status_code == 204, response.text
    found = await search(client, "/CarePlan", {"_sort": "_id"})
    assert refs(found) == ["CarePlan/cp-3", "CarePlan/cp-4"]


async def test_conditional_reference_with_any_criteria(client: httpx.AsyncClient) -> None:
    await seed(client, tolvan(), patient("anna", "Andersson", "Anna"))
    plan = builders.care_plan("Patient?family=andersson&given=anna")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": plan, "request": {"method": "POST", "url": "CarePlan"}}],
    }
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    location = response.json()["entry"][0]["response"]["location"]
    created = await read(client, location.split("/_history")[0])
    assert created["subject"] == {"reference": "Patient/anna"}
    # A criterion matching nobody: 412, nothing written.
    plan = builders.care_plan("Patient?name=nobody")
    bundle["entry"] = [{"resource": plan, "request": {"method": "POST", "url": "CarePlan"}}]
    assert_outcome(await client.post("", json=bundle, headers=FHIR_JSON), 412)
    assert await count(client, "CarePlan") == 1


@pytest.fixture
async def unchanged(client: httpx.AsyncClient) -> Any:
    """Tolvan with a draft plan; afterwards, checks that neither was touched."""
    await seed(client, tolvan(), care_plan("cp-1", status="draft"))
    yield
    assert await count(client, "Patient") == 1
    assert await count(client, "CarePlan") == 1
    assert (await read(client, "CarePlan/cp-1"))["meta"]["versionId"] == "1"
    assert (await read(client, "Patient/tolvan"))["meta"]["versionId"] == "1"


UNKNOWN_CRITERIA = ["shoe-size=42", "status=draft&shoe-size=42", "patient.shoe-size=42"]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("criteria", UNKNOWN_CRITERIA)
async def test_unknown_parameter_in_conditional_delete_is_400(
    client: httpx.AsyncClient, criteria: str
) -> None:
    # Ignoring it would widen the delete to whatever the rest matches.
    assert_outcome(await client.delete(f"/CarePlan?{criteria}"), 400)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("criteria", UNKNOWN_CRITERIA)
async def test_unknown_parameter_in_conditional_update_is_400(
    client: httpx.AsyncClient, criteria: str
) -> None:
    plan = care_plan("cp-1", status="revoked")
    del plan["id"]
    assert_outcome(await client.put(f"/CarePlan?{criteria}", json=plan, headers=FHIR_JSON), 400)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("criteria", UNKNOWN_CRITERIA)
async def test_unknown_parameter_in_conditional_create_is_400(
    client: httpx.AsyncClient, criteria: str
) -> None:
    response = await client.post(
        "/CarePlan", json=care_plan("x"), headers={**FHIR_JSON, "If-None-Exist": criteria}
    )
    assert_outcome(response, 400)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("criteria", ["", "_count=1", "_sort=_id", "_summary=count"])
async def test_conditional_delete_without_criteria_is_400(
    client: httpx.AsyncClient, criteria: str
) -> None:
    assert_outcome(await client.delete(f"/CarePlan?{criteria}"), 400)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "entry",
    [
        {
            "resource": builders.care_plan("Patient?shoe-size=42"),
            "request": {"method": "POST", "url": "CarePlan"},
        },
        {
            "resource": builders.care_plan("Patient?name=tolvan&shoe-size=42"),
            "request": {"method": "POST", "url": "CarePlan"},
        },
        {
            "resource": builders.care_plan("Patient/tolvan"),
            "request": {"method": "POST", "url": "CarePlan", "ifNoneExist": "shoe-size=42"},
        },
        {
            "resource": builders.care_plan("Patient/tolvan"),
            "request": {"method": "PUT", "url": "CarePlan?status=draft&shoe-size=42"},
        },
        {"request": {"method": "DELETE", "url": "CarePlan?status=draft&shoe-size=42"}},
    ],
)
async def test_unknown_parameter_in_transaction_conditions_is_400(
    client: httpx.AsyncClient, entry: dict[str, Any]
) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    body = assert_outcome(await client.post("", json=bundle, headers=FHIR_JSON), 400)
    assert "shoe-size" in body["issue"][0]["diagnostics"]
    # In a batch the entry fails alone, with the same status.
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [entry]}
    response = await client.post("", json=batch, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    result = response.json()["entry"][0]["response"]
    assert result["status"].startswith("400")
    assert result["outcome"]["resourceType"] == "OperationOutcome"


# --- searches inside batch and transaction (http.html#transaction) --------------------------


@pytest.mark.parametrize("kind", ["batch", "transaction"])
async def test_bundle_get_entry_searches(client: httpx.AsyncClient, kind: str) -> None:
    await seed(
        client,
        tolvan(),
        patient("anna", "Andersson", "Anna"),
        care_plan("cp-1"),
        care_plan("cp-2", status="draft"),
        care_plan("cp-3", "Patient/anna"),
    )
    bundle = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"request": {"method": "GET", "url": "CarePlan?patient=Patient/tolvan&_sort=-_id"}},
            {"request": {"method": "GET", "url": "Patient?_has:CarePlan:patient:status=draft"}},
            {"request": {"method": "GET", "url": "CarePlan?status=active&_summary=count"}},
        ],
    }
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK"] * 3
    plans, patients, counted = (checked_searchset(e["resource"]) for e in entries)
    assert refs(plans) == ["CarePlan/cp-2", "CarePlan/cp-1"]
    assert refs(patients) == ["Patient/tolvan"]
    assert counted["total"] == 2
    assert "entry" not in counted
