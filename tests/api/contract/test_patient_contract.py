"""`$patient-contract`: the whole contract as a FHIR document Bundle, on both databases.

The contract is built through the API as one transaction Bundle; times are relative to now (in
Stockholm time) so the document's "upcoming" and "past" stay right whenever the tests run.
Test data only: the personnummer 191212121212; other patients carry `urn:test:` identifiers.
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B import get_fhir_model_class

from patientkontrakt.contract.document import contract_document
from patientkontrakt.contract.vocabulary import (
    CATEGORY_PATIENTKONTRAKT,
    PERSONNUMMER,
    ROLE_FAST_LAKARKONTAKT,
    ROLE_FAST_VARDKONTAKT,
    Canonicals,
)
from patientkontrakt.fhir.listing import Paging
from tests.api.builders import FHIR_JSON, TOLVAN_PERSONNUMMER
from tests.statements import sent_statements

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
XHTML = "{http://www.w3.org/1999/xhtml}"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CANONICALS = Canonicals()
IDENTIFIER = f"{PERSONNUMMER}|{TOLVAN_PERSONNUMMER}"
TITLES = [
    "Överenskommelsen",
    "Fast vårdkontakt och fast läkarkontakt",
    "Överenskommen tid",
    "Planerade insatser per ansvarig",
    "Det här gör jag själv",
    "Mål",
    "Nästa steg",
]
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti")
MONTHS += ("september", "oktober", "november", "december")


# --- building a contract through the API ----------------------------------------------------------


def local(days: int, hour: int = 9, minute: int = 30) -> dt.datetime:
    """A Stockholm wall-clock time `days` from today."""
    day = dt.datetime.now(STOCKHOLM).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=STOCKHOLM)


def written(moment: dt.datetime) -> str:
    """How the document writes a time: `tisdag 1 december 2026 kl. 09:30`."""
    return (
        f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {moment.year} "
        f"kl. {moment:%H:%M}"
    )


class Contract:
    """A transaction Bundle of one patient's contract, with `urn:uuid` references by name."""

    def __init__(self, patient: dict[str, Any]) -> None:
        self.urls: dict[str, str] = {}
        self.entries: list[dict[str, Any]] = []
        self.add("patient", patient)

    def ref(self, name: str) -> dict[str, str]:
        return {"reference": self.urls[name]}

    def add(self, name: str, resource: dict[str, Any]) -> None:
        self.urls[name] = f"urn:uuid:{uuid.uuid4()}"
        self.entries.append(
            {
                "fullUrl": self.urls[name],
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}


def patient(name: dict[str, Any], identifier: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": identifier[0], "value": identifier[1]}],
        "name": [name],
    }


def organization(name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "active": True, "name": name}


def practitioner(given: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"given": [given], "family": family}]}


def role(
    c: Contract, person: str | None, org: str, title: str, phone: str, end: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "active": True,
        "organization": c.ref(org),
        "code": [{"text": title}],
        "telecom": [{"system": "phone", "value": phone, "use": "work"}],
        "availableTime": [
            {
                "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                "availableStartTime": "08:00:00",
                "availableEndTime": end,
            }
        ],
    }
    if person is not None:
        body["practitioner"] = c.ref(person)
    else:
        body["practitioner"] = {"display": "Kim Testhandläggare"}
    return body


def contact(c: Contract, code: str, member: str) -> dict[str, Any]:
    return {
        "role": [{"coding": [{"system": CANONICALS.care_team_role, "code": code}]}],
        "member": {**c.ref(member), "type": "PractitionerRole"},
        "period": {"start": "2026-01-02"},
    }


def goal(c: Contract, text: str, by: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": c.ref("patient"),
        "expressedBy": c.ref(by),
    }


def appointment(
    c: Contract, status: str, start: dt.datetime | None, what: str, answer: str = "accepted"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": status,
        "description": what,
        "participant": [
            {"actor": c.ref("patient"), "status": answer},
            {"actor": c.ref("lakare"), "status": "accepted"},
        ],
    }
    if start is not None:
        body["start"] = start.isoformat()
        body["end"] = (start + dt.timedelta(minutes=30)).isoformat()
    else:
        body["requestedPeriod"] = [
            {"start": local(40).date().isoformat(), "end": local(50).date().isoformat()}
        ]
    return body


def activity(
    c: Contract, text: str, performer: str, *, goal_name: str | None = None, **extra: Any
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "code": {"text": text},
        "status": "scheduled",
        "performer": [c.ref(performer)],
        **extra,
    }
    if goal_name is not None:
        detail["goal"] = [c.ref(goal_name)]
    return {"detail": detail}


def plan(
    c: Contract, title: str, approved: bool, activities: list[Any], goals: list[str]
) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "extension": [{"url": CANONICALS.approved_for_patient, "valueBoolean": approved}],
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {"system": CANONICALS.contract_category, "code": CATEGORY_PATIENTKONTRAKT}
                ]
            },
            {"coding": [{"system": CANONICALS.plan_type, "code": "SIP"}]},
        ],
        "title": title,
        "description": "Sammanhållen plan för vårdcentralen, psykiatrin och kommunen.",
        "subject": c.ref("patient"),
        "period": {"start": "2026-01-02"},
        "author": c.ref("lakare"),
        "contributor": [c.ref("patient"), c.ref("sjukskoterska")],
        "careTeam": [c.ref("team")],
        "goal": [c.ref(g) for g in goals],
        "activity": activities,
        "note": [{"text": "Planen är överenskommen vid samordningsmötet."}],
    }


def contract(
    *,
    name: dict[str, Any] | None = None,
    identifier: tuple[str, str] = (PERSONNUMMER, TOLVAN_PERSONNUMMER),
    times: bool = True,
    label: str = "",
) -> Contract:
    """A whole contract: three care providers, both named contacts, two plans (one approved for
    the patient, one not), goals, and (with `times`) two agreed times to come, one past and one
    proposal. `label` marks every text, to tell one patient's contract from another's."""
    c = Contract(patient(name or {"given": ["Tolvan"], "family": "Tolvansson"}, identifier))
    c.add("vc", organization(f"Vårdcentral Testby{label}"))
    c.add("psyk", organization(f"Psykiatrimottagning Testby{label}"))
    c.add("kommun", organization(f"Testby kommun{label}"))
    c.add("lena", practitioner("Lena", f"Testläkare{label}"))
    c.add("sam", practitioner("Sam", f"Testsköterska{label}"))
    c.add("lakare", role(c, "lena", "vc", "Specialist i allmänmedicin", "08-46500411", "16:30:00"))
    c.add("sjukskoterska", role(c, "sam", "psyk", "Sjuksköterska", "08-46500412", "16:00:00"))
    c.add("handlaggare", role(c, None, "kommun", "Biståndshandläggare", "08-46500413", "15:00:00"))
    c.add(
        "team",
        {
            "resourceType": "CareTeam",
            "status": "active",
            "name": f"Tolvans vårdteam{label}",
            "subject": c.ref("patient"),
            "participant": [
                contact(c, ROLE_FAST_LAKARKONTAKT, "lakare"),
                contact(c, ROLE_FAST_VARDKONTAKT, "sjukskoterska"),
            ],
            "managingOrganization": [c.ref("vc")],
        },
    )
    c.add("barnbarn", goal(c, f"Orka träffa mina barnbarn{label}", "patient"))
    c.add("phq", goal(c, f"PHQ-9 under 10{label}", "lakare"))
    c.add("somn", goal(c, f"Sova hela natten{label}", "patient"))
    c.add("hemligt", goal(c, f"Kliniskt delmål{label}", "lakare"))
    activities = [
        activity(
            c,
            f"Stödsamtal{label}",
            "sjukskoterska",
            goal_name="phq",
            scheduledString="Varannan vecka",
        ),
        activity(c, f"Boendestöd{label}", "kommun", scheduledString="Tisdagar och fredagar"),
        activity(c, f"Promenera 30 minuter{label}", "patient", goal_name="barnbarn"),
        activity(
            c,
            f"Läkemedelsgenomgång{label}",
            "lakare",
            scheduledPeriod={"start": local(90, 13, 0).isoformat()},
        ),
    ]
    if times:
        c.add("snart", appointment(c, "booked", local(30), f"Uppföljning{label}"))
        c.entries[-1]["resource"]["patientInstruction"] = "Ta med din läkemedelslista."
        c.add("senare", appointment(c, "booked", local(60, 14, 0), f"Återbesök{label}"))
        c.add("forra", appointment(c, "booked", local(-30, 10, 0), f"Första besöket{label}"))
        c.add("forslag", appointment(c, "proposed", None, f"Bedömning{label}", "needs-action"))
        activities.insert(0, {"reference": c.ref("snart")})
    c.add("plan", plan(c, f"Patientkontrakt{label}", True, activities, ["barnbarn", "phq"]))
    hidden = [activity(c, f"Krisplan under arbete{label}", "psyk", goal_name="hemligt")]
    c.add("utkast", plan(c, f"Ej godkänd plan{label}", False, hidden, ["hemligt"]))
    return c


async def store(client: httpx.AsyncClient, c: Contract) -> dict[str, str]:
    """Post the contract; `Type/id` of each resource by its name in the builder."""
    response = await client.post("", json=c.bundle(), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    names = list(c.urls)
    ids: dict[str, str] = {}
    for name, entry in zip(names, response.json()["entry"], strict=True):
        location = entry["response"]["location"]
        ids[name] = "/".join(location.removeprefix(BASE + "/").split("/")[:2])
    return ids


async def document(client: httpx.AsyncClient, url: str, **params: str) -> dict[str, Any]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def sections(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["title"]: s for s in body["entry"][0]["resource"]["section"]}


def entries(section: dict[str, Any]) -> list[str]:
    """The section's references as Type/id; they are absolute URLs on our base (the
    Composition's fullUrl is a urn:uuid, so relative ones would not resolve)."""
    references = [e["reference"] for e in section.get("entry", [])]
    assert all(r.startswith(f"{BASE}/") for r in references), references
    return [r.removeprefix(f"{BASE}/") for r in references]


def div(section: dict[str, Any]) -> ET.Element:
    """The section's narrative, parsed as XML (fails the test unless well-formed XHTML)."""
    assert section["text"]["status"] == "generated"
    root = ET.fromstring(section["text"]["div"])
    assert root.tag == f"{XHTML}div"
    return root


def text(section: dict[str, Any]) -> str:
    return "".join(div(section).itertext())


def resources(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Bundle's resources by fullUrl."""
    return {e["fullUrl"]: e["resource"] for e in body["entry"]}


# --- the document ---------------------------------------------------------------------------------


async def test_the_contract_is_a_document_bundle(client: httpx.AsyncClient) -> None:
    ids = await store(client, contract())
    body = await document(client, f"/{ids['patient']}/$patient-contract")

    assert body["resourceType"] == "Bundle"
    assert body["type"] == "document"
    assert body["identifier"]["value"].startswith("urn:uuid:")
    assert body["timestamp"]
    get_fhir_model_class("Bundle").model_validate(body)
    composition = body["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["status"] == "final"
    assert composition["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "18776-5",
        "display": "Plan of care note",
    }
    assert composition["subject"]["reference"] == f"{BASE}/{ids['patient']}"
    assert composition["title"] == "Patientkontrakt för Tolvan Tolvansson"
    assert [s["title"] for s in composition["section"]] == TITLES
    assert [s["code"]["coding"][0]["system"] for s in composition["section"]] == [
        CANONICALS.contract_section
    ] * len(TITLES)

    urls = [e["fullUrl"] for e in body["entry"]]
    assert len(urls) == len(set(urls)), "every resource once"
    assert all(u.startswith((BASE + "/", "urn:uuid:")) for u in urls)
    found = resources(body)
    author = found[composition["author"][0]["reference"]]
    assert author["resourceType"] == "Device"
    assert found[f"{BASE}/{ids['patient']}"]["resourceType"] == "Patient"
    for section in composition["section"]:
        for sub in [section, *section.get("section", [])]:
            for entry in sub.get("entry", []):
                assert entry["reference"] in found, (sub["title"], entry)
    for name in ("plan", "utkast", "team", "lakare", "sjukskoterska", "lena", "sam", "vc"):
        assert f"{BASE}/{ids[name]}" in found, name


async def test_sections_show_the_agreement_and_the_named_contacts(
    client: httpx.AsyncClient,
) -> None:
    ids = await store(client, contract())
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    agreement = found["Överenskommelsen"]
    assert entries(agreement)[:2] == [ids["plan"], ids["utkast"]]
    written_agreement = text(agreement)
    assert "Samordnad individuell plan, gäller från 2 januari 2026." in written_agreement
    assert "Planen är överenskommen vid samordningsmötet." in written_agreement
    assert "Deltar: Tolvan Tolvansson; Sam Testsköterska, Psykiatrimottagning Testby" in (
        written_agreement
    )
    assert "Ej godkänd plan (ej godkänd för patienten)" in written_agreement

    contacts = found["Fast vårdkontakt och fast läkarkontakt"]
    items = ["".join(li.itertext()) for li in div(contacts).iter(f"{XHTML}li")]
    assert items == [
        "Fast vårdkontakt: Sam Testsköterska (Sjuksköterska), Psykiatrimottagning Testby. "
        "Nås på telefon 08-46500412, mån–fre 08:00–16:00.",
        "Fast läkarkontakt: Lena Testläkare (Specialist i allmänmedicin), Vårdcentral Testby. "
        "Nås på telefon 08-46500411, mån–fre 08:00–16:30.",
    ]
    assert {ids["team"], ids["sjukskoterska"], ids["sam"], ids["psyk"], ids["lakare"]} <= set(
        entries(contacts)
    )


async def test_agreed_times_upcoming_soonest_first_then_past_and_proposals_apart(
    client: httpx.AsyncClient,
) -> None:
    ids = await store(client, contract())
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    times = found["Överenskommen tid"]
    assert entries(times) == [ids["snart"], ids["senare"], ids["forra"]]
    written_times = text(times)
    soon, later, before = written(local(30)), written(local(60, 14, 0)), written(local(-30, 10, 0))
    assert written_times.index(soon) < written_times.index(later) < written_times.index(before)
    assert written_times.index("Kommande") < written_times.index(soon)
    assert written_times.index("Tidigare") < written_times.index(before)
    assert "Inför besöket: Ta med din läkemedelslista." in written_times
    assert "Bedömning" not in written_times
    [proposals] = times["section"]
    assert proposals["title"] == "Förslag på tider"
    assert entries(proposals) == [ids["forslag"]]
    assert "Bedömning" in text(proposals)
    assert "föreslagen tid" in text(proposals)


async def test_activities_are_grouped_by_responsible_organisation(
    client: httpx.AsyncClient,
) -> None:
    ids = await store(client, contract())
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    planned = div(found["Planerade insatser per ansvarig"])
    groups: dict[str, list[str]] = {}
    heading = ""
    for block in planned:
        if block.tag == f"{XHTML}p":
            heading = "".join(block.itertext())
        else:
            groups[heading] = ["".join(li.itertext()) for li in block]
    assert list(groups) == ["Vårdcentral Testby", "Psykiatrimottagning Testby", "Testby kommun"]
    assert [item.split(" – ")[0] for item in groups["Vårdcentral Testby"]] == [
        "Uppföljning",
        "Läkemedelsgenomgång",
    ]
    assert groups["Psykiatrimottagning Testby"][0].startswith("Stödsamtal – Sam Testsköterska")
    assert "För målet PHQ-9 under 10." in groups["Psykiatrimottagning Testby"][0]
    # The plan clinicians see but the patient does not is marked for them.
    assert groups["Psykiatrimottagning Testby"][1].startswith("Krisplan under arbete")
    assert "ej godkänd för patienten" in groups["Psykiatrimottagning Testby"][1]
    assert groups["Testby kommun"][0].startswith("Boendestöd – Tisdagar och fredagar")
    assert all("Promenera" not in item for items in groups.values() for item in items)
    assert {ids["vc"], ids["psyk"], ids["kommun"], ids["plan"]} <= set(
        entries(found["Planerade insatser per ansvarig"])
    )

    mine = found["Det här gör jag själv"]
    assert text(mine).startswith("Promenera 30 minuter")
    assert "För målet Orka träffa mina barnbarn." in text(mine)
    assert ids["plan"] in entries(mine)


async def test_goals_are_the_plans_and_the_patients_own(client: httpx.AsyncClient) -> None:
    ids = await store(client, contract())
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    goals = found["Mål"]
    assert entries(goals) == [ids["barnbarn"], ids["phq"], ids["hemligt"], ids["somn"]]
    written_goals = text(goals)
    assert "Orka träffa mina barnbarn – mitt eget mål, pågår." in written_goals
    assert "Sova hela natten – mitt eget mål" in written_goals
    assert "Kliniskt delmål – pågår, ej godkänd för patienten." in written_goals


async def test_next_step_names_the_next_agreed_time_and_the_named_contact(
    client: httpx.AsyncClient,
) -> None:
    ids = await store(client, contract())
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    step = found["Nästa steg"]
    written_step = text(step)
    assert written_step.startswith(f"Nästa överenskomna tid: {written(local(30))}")
    assert "Uppföljning" in written_step
    assert (
        "Kontakta din fasta vårdkontakt Sam Testsköterska, Psykiatrimottagning Testby: "
        "telefon 08-46500412, mån–fre 08:00–16:00." in written_step
    )
    assert entries(step)[0] == ids["snart"]
    assert ids["sjukskoterska"] in entries(step)


async def test_without_agreed_times_next_step_names_the_next_activity(
    client: httpx.AsyncClient,
) -> None:
    ids = await store(client, contract(times=False))
    found = sections(await document(client, f"/{ids['patient']}/$patient-contract"))

    written_step = text(found["Nästa steg"])
    assert "Ingen ny tid är överenskommen." in written_step
    assert f"Nästa planerade insats: Läkemedelsgenomgång – {written(local(90, 13, 0))}" in (
        written_step
    )
    assert "Lena Testläkare" in written_step
    assert (
        "Kontakta din fasta vårdkontakt Sam Testsköterska, Psykiatrimottagning Testby: "
        "telefon 08-46500412, mån–fre 08:00–16:00." in written_step
    )
    times = found["Överenskommen tid"]
    assert "entry" not in times
    assert times["emptyReason"]["coding"][0]["code"] == "nilknown"
    assert "Ingen kommande tid är bokad." in text(times)


async def test_narrative_is_xhtml_with_the_text_escaped(client: httpx.AsyncClient) -> None:
    name = {"given": ["Tolvan"], "family": "Tolvansson <Test> & Co"}
    ids = await store(client, contract(name=name))
    body = await document(client, f"/{ids['patient']}/$patient-contract")

    composition = body["entry"][0]["resource"]
    assert composition["title"] == "Patientkontrakt för Tolvan Tolvansson <Test> & Co"
    agreement = sections(body)["Överenskommelsen"]
    assert "Tolvansson &lt;Test&gt; &amp; Co" in agreement["text"]["div"]
    assert "Tolvan Tolvansson <Test> & Co" in text(agreement)
    for section in composition["section"]:
        for sub in [section, *section.get("section", [])]:
            root = div(sub)
            assert root.attrib == {}
            assert all(e.tag.startswith(XHTML) for e in root.iter())


# --- finding the patient --------------------------------------------------------------------------


async def test_the_patient_is_found_by_identifier(client: httpx.AsyncClient) -> None:
    ids = await store(client, contract())

    body = await document(client, "/Patient/$patient-contract", identifier=IDENTIFIER)

    assert body["entry"][0]["resource"]["subject"]["reference"] == f"{BASE}/{ids['patient']}"
    by_id = await document(client, f"/{ids['patient']}/$patient-contract")
    assert [e["fullUrl"] for e in body["entry"][1:]] == [e["fullUrl"] for e in by_id["entry"][1:]]


async def test_post_with_parameters_finds_the_patient_too(client: httpx.AsyncClient) -> None:
    ids = await store(client, contract())
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "identifier",
                "valueIdentifier": {"system": PERSONNUMMER, "value": TOLVAN_PERSONNUMMER},
            }
        ],
    }

    response = await client.post("/Patient/$patient-contract", json=parameters, headers=FHIR_JSON)

    assert response.status_code == 200, response.text
    composition = response.json()["entry"][0]["resource"]
    assert composition["subject"]["reference"] == f"{BASE}/{ids['patient']}"


def assert_outcome(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"


async def test_unknown_patients_missing_and_ambiguous_identifiers(
    client: httpx.AsyncClient,
) -> None:
    await store(client, contract())
    unknown = f"{PERSONNUMMER}|194004029999"

    assert_outcome(await client.get("/Patient/nobody/$patient-contract"), 404)
    assert_outcome(
        await client.get("/Patient/$patient-contract", params={"identifier": unknown}), 404
    )
    assert_outcome(await client.get("/Patient/$patient-contract"), 400)
    assert_outcome(await client.get("/Patient/$patient-contract", params={"identifier": ""}), 400)

    twin = {"resourceType": "Patient", "identifier": [{"system": "urn:test:twin", "value": "1"}]}
    for _ in range(2):
        assert (await client.post("/Patient", json=twin, headers=FHIR_JSON)).status_code == 201
    ambiguous = await client.get(
        "/Patient/$patient-contract", params={"identifier": "urn:test:twin|1"}
    )
    assert_outcome(ambiguous, 412)


async def test_a_deleted_patient_is_gone(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient", json={"resourceType": "Patient", "active": True}, headers=FHIR_JSON
    )
    patient_id = response.json()["id"]
    assert (await client.delete(f"/Patient/{patient_id}")).status_code == 204

    assert_outcome(await client.get(f"/Patient/{patient_id}/$patient-contract"), 410)


async def test_another_patients_contract_is_never_included(client: httpx.AsyncClient) -> None:
    ids = await store(client, contract())
    other = await store(client, contract(identifier=("urn:test:patient", "annan"), label=" ANNAN"))

    body = await document(client, f"/{ids['patient']}/$patient-contract")

    urls = {e["fullUrl"] for e in body["entry"]}
    assert not any(f"{BASE}/{ref}" in urls for ref in other.values())
    assert "ANNAN" not in str(body)
    mine = await document(client, f"/{other['patient']}/$patient-contract")
    assert "Vårdcentral Testby ANNAN" in str(mine)
    assert not any(f"{BASE}/{ids[name]}" in str(mine) for name in ("plan", "snart", "team"))


# --- patient-facing use ---------------------------------------------------------------------------


async def test_patient_facing_use_shows_only_plans_approved_for_the_patient(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await store(client, contract())
    context = app.state.server
    async with context.store.reading() as repo:
        stored = await repo.current(*ids["patient"].split("/"))
        assert stored is not None
        shown = {}
        for patient_facing in (True, False):
            made = await contract_document(
                repo,
                stored,
                paging=paging(context),
                canonicals=CANONICALS,
                patient_facing=patient_facing,
            )
            shown[patient_facing] = made

    facing = shown[True].bundle
    urls = {e["fullUrl"] for e in facing["entry"]}
    assert f"{BASE}/{ids['plan']}" in urls
    assert f"{BASE}/{ids['utkast']}" not in urls
    assert f"{BASE}/{ids['hemligt']}" not in urls
    everything = " ".join(text(s) for s in sections(facing).values())
    assert "Krisplan under arbete" not in everything
    assert "Ej godkänd plan" not in everything
    assert "Kliniskt delmål" not in everything
    assert "ej godkänd för patienten" not in everything
    assert "Promenera 30 minuter" in everything
    assert f"{BASE}/{ids['utkast']}" not in str(facing)
    assert ids["utkast"] not in shown[True].references

    clinician = shown[False].bundle
    assert f"{BASE}/{ids['utkast']}" in {e["fullUrl"] for e in clinician["entry"]}
    assert ids["utkast"] in shown[False].references


async def test_with_a_patient_token_only_approved_plans_are_shown(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient, tokens: Any
) -> None:
    ids = await store(client, contract())
    other = await store(client, contract(identifier=("urn:test:patient", "annan"), label=" ANNAN"))
    patient_id = ids["patient"].split("/")[1]
    headers = tokens.headers("patient/*.rs launch/patient", patient=patient_id)

    response = await anonymous_client.get(f"/{ids['patient']}/$patient-contract", headers=headers)
    by_identifier = await anonymous_client.get(
        "/Patient/$patient-contract", params={"identifier": IDENTIFIER}, headers=headers
    )
    foreign = await anonymous_client.get(f"/{other['patient']}/$patient-contract", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    urls = {e["fullUrl"] for e in body["entry"]}
    assert f"{BASE}/{ids['plan']}" in urls
    assert f"{BASE}/{ids['utkast']}" not in urls
    everything = " ".join(text(s) for s in sections(body).values())
    assert "Krisplan under arbete" not in everything
    assert "ej godkänd för patienten" not in everything
    assert "ANNAN" not in str(body)
    assert by_identifier.status_code == 200, by_identifier.text
    assert foreign.status_code in (403, 404), foreign.text
    assert "ANNAN" not in foreign.text


def paging(context: Any) -> Paging:
    """The paging context a request to the test client's base would have."""
    return Paging(
        base=BASE,
        signer=context.signer,
        default_count=context.settings.default_page_size,
        max_count=context.settings.max_page_size,
    )


# --- cost -----------------------------------------------------------------------------------------


async def test_statements_do_not_grow_with_the_number_of_other_patients(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await store(client, contract())
    await store(client, contract(identifier=("urn:test:patient", "0"), label=" 0"))
    url = f"/{ids['patient']}/$patient-contract"
    await document(client, url)  # warm-up: connections and dialect set up

    with sent_statements(app.state.server.store.engine) as few:
        small = await document(client, url)
    for n in range(1, 20):
        await store(client, contract(identifier=("urn:test:patient", str(n)), label=f" {n}"))
    with sent_statements(app.state.server.store.engine) as many:
        large = await document(client, url)

    assert len(many) == len(few), (few, many)
    # Reads: the Patient, six searches, two rounds fetching the people named (and the audit
    # trail's own lookup); the rest of the statements record the access.
    reads = [s for s in few if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(reads) <= 11, reads
    assert [e["fullUrl"] for e in large["entry"][1:]] == [e["fullUrl"] for e in small["entry"][1:]]
