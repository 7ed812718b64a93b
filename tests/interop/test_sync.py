"""`patientkontrakt sync push` and `sync pull` against the HAPI FHIR sandbox.

HAPI's database is shared by every test and run, so each test makes its data unique: a canonical
base of its own (so the identifiers push gives resources without one are new), fresh test
personnummer (the demo rule, random dates) and HSA-ids with a suffix of the run. Counts on HAPI
are taken with criteria only this test's data meets.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner, Result

from patientkontrakt.cli import app as cli
from patientkontrakt.config import get_settings
from patientkontrakt.contract.demo import generate
from patientkontrakt.contract.demo_people import luhn_digit
from patientkontrakt.contract.vocabulary import HSA_ID, PERSONNUMMER, Canonicals
from tests.interop.dataset import fresh_personnummer

pytestmark = pytest.mark.anyio

FHIR_JSON = "application/fhir+json"
TODAY = "2026-03-11"
SYNC_CLIENT = "urn:ietf:params:oauth:client-id|patientkontrakt-sync"


# --- helpers --------------------------------------------------------------------------------


async def run(*args: str) -> Result:
    """`patientkontrakt ARGS` in a thread (it runs its own event loop), settings read anew."""
    get_settings.cache_clear()
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(cli, list(args)))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in `node`."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@pytest.fixture
def canonical_base(monkeypatch: pytest.MonkeyPatch, cli_env: None) -> str:
    """A canonical base of this test alone (PK_CANONICAL_BASE for the CLI)."""
    base = f"https://sync-test-{secrets.token_hex(5)}.patientkontrakt.example/fhir"
    monkeypatch.setenv("PK_CANONICAL_BASE", base)
    return base


@pytest.fixture
async def hapi(hapi_base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=hapi_base_url, headers={"Accept": FHIR_JSON}, timeout=120
    ) as c:
        yield c


async def hapi_count(hapi: httpx.AsyncClient, resource_type: str, **params: str) -> int:
    answer = await hapi.get(
        resource_type, params={**params, "_summary": "count", "_total": "accurate"}
    )
    assert answer.status_code == 200, answer.text
    total = answer.json()["total"]
    assert isinstance(total, int)
    return total


async def hapi_search(
    hapi: httpx.AsyncClient, resource_type: str, **params: str
) -> list[dict[str, Any]]:
    """Every match of a search on HAPI, all pages."""
    found: list[dict[str, Any]] = []
    answer = await hapi.get(resource_type, params={**params, "_count": "100"})
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += [e["resource"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            return found
        answer = await hapi.get(following[0])


async def ours(client: httpx.AsyncClient, path: str, **params: str) -> dict[str, Any]:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, f"{path}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


async def our_count(client: httpx.AsyncClient, resource_type: str, **params: str) -> int:
    total = (await ours(client, f"/{resource_type}", _summary="count", **params))["total"]
    assert isinstance(total, int)
    return total


async def our_types(client: httpx.AsyncClient, types: set[str]) -> Counter[str]:
    return Counter({t: await our_count(client, t) for t in sorted(types)})


async def our_resources(
    client: httpx.AsyncClient, resource_type: str, **params: str
) -> list[dict[str, Any]]:
    page = await ours(client, f"/{resource_type}", _count="1000", **params)
    assert not [link for link in page["link"] if link["relation"] == "next"]
    return [e["resource"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]


# --- push -----------------------------------------------------------------------------------


def unique_county(canonical_base: str, directory: Path) -> tuple[Path, list[str], list[str]]:
    """The demo county (3 patients) with patients 2 and 3 given fresh personnummer and every
    HSA-id a suffix of this run, as a Bundle file; with the new personnummer and HSA-ids."""
    resources = list(generate(3, 1, Canonicals(canonical_base), today=dt.date.fromisoformat(TODAY)))
    suffix = "T" + secrets.token_hex(4)
    renumbered: dict[str, str] = {}
    for resource in resources:
        if resource["resourceType"] == "Patient" and resource["id"] != "demo-patient-000001":
            old = resource["identifier"][0]["value"]
            renumbered[old] = fresh_personnummer(male=resource["gender"] == "male")
    hsa_ids = set()
    for node in walk(resources):
        if node.get("system") == HSA_ID and isinstance(node.get("value"), str):
            node["value"] += suffix
            hsa_ids.add(node["value"])
        elif node.get("system") == PERSONNUMMER and node.get("value") in renumbered:
            node["value"] = renumbered[node["value"]]
    for resource in resources:
        if (
            resource["resourceType"] == "Patient"
            and resource["identifier"][0]["value"] in renumbered.values()
        ):
            number = resource["identifier"][0]["value"]
            resource["birthDate"] = f"{number[:4]}-{number[4:6]}-{number[6:8]}"
    path = directory / "county.json"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    return path, list(renumbered.values()), sorted(hsa_ids)


async def count_on_hapi(
    hapi: httpx.AsyncClient, canonical_base: str, numbers: list[str], hsa_ids: list[str]
) -> Counter[str]:
    """This test's resources on HAPI, by type: the patients by personnummer, directory data by
    the run's HSA-ids, the rest by the identifier push made for them."""
    counts: Counter[str] = Counter()
    counts["Patient"] = await hapi_count(
        hapi, "Patient", identifier=",".join(f"{PERSONNUMMER}|{n}" for n in numbers)
    )
    for resource_type in ("Organization", "Practitioner", "PractitionerRole"):
        counts[resource_type] = await hapi_count(
            hapi, resource_type, identifier=",".join(f"{HSA_ID}|{h}" for h in hsa_ids)
        )
    for resource_type in ("CarePlan", "CareTeam", "Goal", "Appointment", "Condition"):
        counts[resource_type] = await hapi_count(
            hapi, resource_type, identifier=f"{canonical_base}/identifier/{resource_type}|"
        )
    return counts


async def test_push_twice_creates_nothing_new_and_a_pull_back_changes_nothing(
    client: httpx.AsyncClient,
    hapi: httpx.AsyncClient,
    hapi_base_url: str,
    canonical_base: str,
    tmp_path: Path,
) -> None:
    county, numbers, hsa_ids = unique_county(canonical_base, tmp_path)
    loaded = await run("load", str(county))
    assert loaded.exit_code == 0, loaded.output
    patients = [f"--patient={n}" for n in numbers]  # patients 2 and 3, not Tolvan
    sent_types = {"CarePlan", "CareTeam", "Goal", "Appointment", "Condition"} | {
        "Patient",
        "Organization",
        "Practitioner",
        "PractitionerRole",
    }
    assert await count_on_hapi(hapi, canonical_base, numbers, hsa_ids) == Counter()

    first = await run("sync", "push", "--to", hapi_base_url, *patients)
    assert first.exit_code == 0, first.output
    assert f"pushed to {hapi_base_url}: 2 patient(s)" in first.stdout
    assert ", 0 updated, " in first.stdout
    assert "[2/2] Patient/demo-patient-00000" in first.stderr
    after_first = await count_on_hapi(hapi, canonical_base, numbers, hsa_ids)
    assert after_first["Patient"] == 2
    # What went is what the store holds for the two patients (and the staff they reference).
    for resource_type in ("CarePlan", "CareTeam", "Goal", "Appointment", "Condition"):
        local = 0
        for n in ("000002", "000003"):
            param = "actor" if resource_type == "Appointment" else "subject"
            local += await our_count(client, resource_type, **{param: f"Patient/demo-patient-{n}"})
        assert after_first[resource_type] == local > 0, resource_type

    # On HAPI the plan is the patient's, found by personnummer, and its references resolve.
    [patient] = await hapi_search(hapi, "Patient", identifier=f"{PERSONNUMMER}|{numbers[0]}")
    plans = await hapi_search(hapi, "CarePlan", subject=f"Patient/{patient['id']}")
    assert [p["identifier"] for p in plans] == [
        [{"system": f"{canonical_base}/identifier/CarePlan", "value": "demo-careplan-000002"}]
    ]
    plan = plans[0]
    assert plan["meta"]["versionId"] == "1"
    assert plan["meta"]["profile"] == [f"{canonical_base}/StructureDefinition/pk-careplan"]
    for node in walk(plan):
        if isinstance(node.get("reference"), str):
            target = await hapi.get(node["reference"])
            assert target.status_code == 200, node["reference"]
    teams = [node["reference"] for node in walk(plan["careTeam"])]
    assert teams
    for team in teams:
        body = (await hapi.get(team)).json()
        assert body["identifier"][0]["value"].startswith("demo-careteam-000002"), body
        assert body["subject"]["reference"] == f"Patient/{patient['id']}"

    second = await run("sync", "push", "--to", hapi_base_url, *patients)
    assert second.exit_code == 0, second.output
    assert ": 0 created, 0 updated, " in second.stdout, second.stdout
    assert await count_on_hapi(hapi, canonical_base, numbers, hsa_ids) == after_first
    assert (await hapi.get(f"CarePlan/{plan['id']}")).json()["meta"]["versionId"] == "1"

    # The push was audited as a disclosure by the sync client.
    audits = await ours(client, "/AuditEvent", **{"agent:identifier": SYNC_CLIENT})
    names = {e.get("name") for a in audits.get("entry", []) for e in a["resource"]["entity"]}
    assert f"sync-push to {hapi_base_url}" in names

    # Pulling a pushed patient back finds every resource it came from: nothing new here.
    before = await our_types(client, sent_types)
    pulled = await run("sync", "pull", "--from", hapi_base_url, "--patient", numbers[0])
    assert pulled.exit_code == 0, pulled.output
    assert ": 0 created, " in pulled.stdout, pulled.stdout
    assert await our_types(client, sent_types) == before
    # The plan came back to its own id, as a new version without the identifier push made.
    plan_here = await ours(client, "/CarePlan/demo-careplan-000002")
    assert plan_here["meta"]["versionId"] == "2"
    assert "identifier" not in plan_here
    assert plan_here["subject"]["reference"] == "Patient/demo-patient-000002"


# --- pull -----------------------------------------------------------------------------------

APPOINTMENTS = 25
PLANS = 3
GOALS = 4


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def ehr_record(personnummer: str) -> list[dict[str, Any]]:
    """A patient as an EHR might hold him, none of it with an identifier but the patient's: a
    care unit, a doctor and her role, a room (Location, a type our server does not keep), a
    diagnosis, goals, a care team, plans and more appointments than one page holds."""
    ids = {
        name: _urn() for name in ("patient", "unit", "doctor", "role", "room", "condition", "team")
    }
    goals = [_urn() for _ in range(GOALS)]
    times = [_urn() for _ in range(APPOINTMENTS)]
    tag = {
        "tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]
    }
    patient_ref = {"reference": ids["patient"]}
    role_ref = {"reference": ids["role"]}
    resources: list[tuple[str, dict[str, Any]]] = [
        (
            ids["patient"],
            {
                "resourceType": "Patient",
                "meta": tag,
                "identifier": [{"system": PERSONNUMMER, "value": personnummer}],
                "name": [{"family": "Testsson", "given": ["Sync"]}],
                "birthDate": f"{personnummer[:4]}-{personnummer[4:6]}-{personnummer[6:8]}",
            },
        ),
        (ids["unit"], {"resourceType": "Organization", "meta": tag, "name": "Testmottagningen"}),
        (
            ids["doctor"],
            {"resourceType": "Practitioner", "meta": tag, "name": [{"family": "Doktorsson"}]},
        ),
        (
            ids["role"],
            {
                "resourceType": "PractitionerRole",
                "meta": tag,
                "practitioner": {"reference": ids["doctor"]},
                "organization": {"reference": ids["unit"]},
            },
        ),
        (ids["room"], {"resourceType": "Location", "meta": tag, "name": "Rum 3"}),
        (
            ids["condition"],
            {
                "resourceType": "Condition",
                "meta": tag,
                "subject": patient_ref,
                "code": {"text": "Lätt depressiv episod"},
            },
        ),
        (
            ids["team"],
            {
                "resourceType": "CareTeam",
                "meta": tag,
                "status": "active",
                "subject": patient_ref,
                "participant": [{"member": role_ref}],
                "managingOrganization": [{"reference": ids["unit"]}],
            },
        ),
    ]
    resources += [
        (
            goal,
            {
                "resourceType": "Goal",
                "meta": tag,
                "lifecycleStatus": "active",
                "description": {"text": f"Mål {n}"},
                "subject": patient_ref,
                "addresses": [{"reference": ids["condition"]}],
            },
        )
        for n, goal in enumerate(goals, start=1)
    ]
    start = dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC)
    resources += [
        (
            time,
            {
                "resourceType": "Appointment",
                "meta": tag,
                "status": "booked",
                "start": (start + dt.timedelta(days=n)).isoformat(),
                "end": (start + dt.timedelta(days=n, minutes=30)).isoformat(),
                "participant": [
                    {"actor": patient_ref, "status": "accepted"},
                    {"actor": role_ref, "status": "accepted"},
                    {"actor": {"reference": ids["room"]}, "status": "accepted"},
                ],
            },
        )
        for n, time in enumerate(times)
    ]
    resources += [
        (
            _urn(),
            {
                "resourceType": "CarePlan",
                "meta": tag,
                "status": "active",
                "intent": "plan",
                "title": f"Plan {n}",
                "subject": patient_ref,
                "author": role_ref,
                "careTeam": [{"reference": ids["team"]}],
                "addresses": [{"reference": ids["condition"]}],
                "goal": [{"reference": goal} for goal in goals[: n + 2]],
                "activity": [{"reference": {"reference": times[n]}}],
            },
        )
        for n in range(PLANS)
    ]
    return [
        {
            "fullUrl": url,
            "resource": body,
            "request": {"method": "POST", "url": body["resourceType"]},
        }
        for url, body in resources
    ]


async def create_on_hapi(
    hapi: httpx.AsyncClient, entries: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """POST the entries as one transaction; the ids HAPI gave, by type."""
    answer = await hapi.post(
        "",
        json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
        headers={"Content-Type": FHIR_JSON},
    )
    assert answer.status_code == 200, answer.text
    created: dict[str, list[str]] = {}
    for entry in answer.json()["entry"]:
        assert entry["response"]["status"].startswith("201"), entry
        resource_type, resource_id = entry["response"]["location"].split("/")[:2]
        created.setdefault(resource_type, []).append(resource_id)
    return created


async def test_pull_follows_every_page_resolves_references_and_twice_duplicates_nothing(
    client: httpx.AsyncClient, hapi: httpx.AsyncClient, hapi_base_url: str, canonical_base: str
) -> None:
    number = fresh_personnummer(male=False)
    made = await create_on_hapi(hapi, ehr_record(number))
    [hapi_patient] = made["Patient"]
    assert await hapi_count(hapi, "Appointment", actor=f"Patient/{hapi_patient}") == APPOINTMENTS
    pulled_types = (
        "Patient",
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Condition",
        "CareTeam",
        "Goal",
        "Appointment",
        "CarePlan",
    )

    first = await run(
        "sync", "pull", "--from", hapi_base_url, "--patient", number, "--page-size", "7"
    )
    assert first.exit_code == 0, first.output
    total = sum(len(made[t]) for t in pulled_types)
    assert f"{total} resources: {total} created, 0 updated, 0 unchanged" in first.stdout
    assert "  Appointment: 25\n" in first.stderr
    assert "(1 references left to the source)" in first.stderr  # the Location

    # Every resource arrived, keyed on the identifier its source id made.
    counts = await our_types(client, set(pulled_types))
    assert counts == Counter({t: len(made[t]) for t in pulled_types})
    [patient] = await our_resources(client, "Patient", identifier=f"{PERSONNUMMER}|{number}")
    appointments = await our_resources(client, "Appointment", actor=f"Patient/{patient['id']}")
    assert sorted(
        a["identifier"][0]["value"]
        for a in appointments
        if a["identifier"][0]["system"] == f"{hapi_base_url}/Appointment"
    ) == sorted(made["Appointment"])

    # Every reference points at what was imported here, except the Location (not kept here),
    # which points at HAPI.
    everything = [r for t in pulled_types for r in await our_resources(client, t)]
    room = f"{hapi_base_url}/Location/{made['Location'][0]}"
    references = [
        n["reference"] for r in everything for n in walk(r) if isinstance(n.get("reference"), str)
    ]
    assert references.count(room) == APPOINTMENTS
    for reference in set(references) - {room}:
        target = await client.get(f"/{reference}")
        assert target.status_code == 200, reference
    plans = await our_resources(client, "CarePlan", subject=f"Patient/{patient['id']}")
    assert sorted(len(p["goal"]) for p in plans) == [2, 3, 4]

    # Audited as the sync client, with Provenance naming HAPI as the source.
    assert await our_count(client, "AuditEvent", **{"agent:identifier": SYNC_CLIENT}) >= total
    provenance = await our_resources(client, "Provenance", target=f"Patient/{patient['id']}")
    assert provenance
    assert provenance[0]["entity"][0]["what"]["identifier"]["value"] == hapi_base_url

    second = await run("sync", "pull", "--from", hapi_base_url, "--patient", number)
    assert second.exit_code == 0, second.output
    assert f"{total} resources: 0 created, " in second.stdout
    assert await our_types(client, set(pulled_types)) == counts


async def test_a_resource_our_server_refuses_leaves_nothing_imported(
    client: httpx.AsyncClient, hapi: httpx.AsyncClient, hapi_base_url: str, canonical_base: str
) -> None:
    good = fresh_personnummer(male=True)
    broken = good[:11] + str((int(good[11]) + 1) % 10)  # the check digit off by one
    assert luhn_digit(broken[2:11]) != int(broken[11])
    made = await create_on_hapi(hapi, ehr_record(broken))

    result = await run(
        "sync", "pull", "--from", hapi_base_url, "--patient", f"{PERSONNUMMER}|{broken}"
    )
    assert result.exit_code == 1, result.output
    assert "sync pull refused: 422" in result.stderr
    assert f"{hapi_base_url}/Patient/{made['Patient'][0]}: " in result.stderr
    assert "Patient.identifier[0].value: Ogiltigt personnummer" in result.stderr
    assert "(nothing was imported)" in result.stderr
    assert broken not in result.stderr  # messages never show the number
    for resource_type in ("Patient", "Appointment", "CarePlan", "Practitioner", "Provenance"):
        assert await our_count(client, resource_type) == 0, resource_type
    # The refused attempt is audited.
    refused = await our_resources(
        client, "AuditEvent", **{"agent:identifier": SYNC_CLIENT, "outcome": "4"}
    )
    assert refused
