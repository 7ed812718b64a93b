"""At most one active fast läkarkontakt per patient, one fast vårdkontakt per care unit."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from patientkontrakt.fhir.context import ServerContext
from patientkontrakt.fhir.guard import Change, RequestScope
from patientkontrakt.store.repository import Repository
from tests.api.builders import FHIR_JSON
from tests.api.contract.helpers import (
    CANONICALS,
    FUTURE,
    LAKARE,
    PAST,
    VARD,
    broken_rules,
    care_team,
    created,
    expressions,
    other_patient,
    participant,
    post,
    put,
    tolvan,
)

pytestmark = pytest.mark.anyio


async def test_one_fast_lakarkontakt_is_stored(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    team = care_team(pid, participant(LAKARE, "PractitionerRole/lakare-1"))
    response = await post(client, team)
    assert response.status_code == 201, response.text
    assert response.json()["participant"][0]["role"][0]["coding"][0]["code"] == LAKARE


async def test_a_second_fast_lakarkontakt_in_another_team_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    first = await created(client, care_team(pid, participant(LAKARE, "PractitionerRole/lakare-1")))
    second = care_team(
        pid,
        participant(VARD, "PractitionerRole/skoterska-1"),
        participant(LAKARE, "PractitionerRole/lakare-2"),
        unit="Organization/psykiatri",
    )
    response = await post(client, second)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CareTeam.participant[1]"]]
    assert f"CareTeam/{first}" in issues[0]["diagnostics"]
    assert "Patienten har redan en fast läkarkontakt" in issues[0]["diagnostics"]
    assert "The patient already has a fast läkarkontakt" in issues[0]["diagnostics"]
    found = await client.get("/CareTeam", params={"patient": f"Patient/{pid}"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [first]


async def test_two_fast_lakarkontakter_in_one_team_are_refused(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    team = care_team(
        pid,
        participant(LAKARE, "PractitionerRole/lakare-1"),
        participant(VARD, "PractitionerRole/skoterska-1"),
        participant(LAKARE, "PractitionerRole/lakare-2"),
    )
    response = await post(client, team)
    assert expressions(response) == ["CareTeam.participant[2]"]
    assert "CareTeam.participant[0]" in broken_rules(response)[0]["diagnostics"]


async def test_another_patients_fast_lakarkontakt_does_not_count(
    client: httpx.AsyncClient,
) -> None:
    pid, other = await tolvan(client), await other_patient(client)
    await created(client, care_team(other, participant(LAKARE, "PractitionerRole/lakare-1")))
    response = await post(client, care_team(pid, participant(LAKARE, "PractitionerRole/lakare-1")))
    assert response.status_code == 201, response.text


async def test_updating_the_same_team_does_not_count_it_twice(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    team = care_team(
        pid,
        participant(LAKARE, "PractitionerRole/lakare-1"),
        participant(VARD, "PractitionerRole/skoterska-1"),
    )
    team_id = await created(client, team)
    team = {**team, "id": team_id, "name": "Tolvans vårdteam (uppdaterat)"}
    response = await put(client, team)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    patched = await client.patch(
        f"/CareTeam/{team_id}",
        content=orjson.dumps([{"op": "replace", "path": "/name", "value": "Vårdteamet"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text


async def test_a_patch_adding_a_second_fast_lakarkontakt_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    team_id = await created(client, care_team(pid, participant(LAKARE, "PractitionerRole/l-1")))
    add = [{"op": "add", "path": "/participant/-", "value": participant(LAKARE, "Organization/x")}]
    response = await client.patch(
        f"/CareTeam/{team_id}",
        content=orjson.dumps(add),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert expressions(response) == ["CareTeam.participant[1]"]
    current = (await client.get(f"/CareTeam/{team_id}")).json()
    assert current["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param({"participant_end": PAST}, id="participant-period-ended"),
        pytest.param({"status": "inactive"}, id="team-inactive"),
        pytest.param({"team_end": PAST}, id="team-period-ended"),
        pytest.param({"delete": True}, id="team-deleted"),
    ],
)
async def test_ending_a_contact_frees_the_slot(
    client: httpx.AsyncClient, ending: dict[str, object]
) -> None:
    pid = await tolvan(client)
    old = care_team(pid, participant(LAKARE, "PractitionerRole/lakare-1", start="2019-01-01"))
    old_id = await created(client, old)
    new = care_team(pid, participant(LAKARE, "PractitionerRole/lakare-2"))
    assert (await post(client, new)).status_code == 422

    old = {**old, "id": old_id}
    if "participant_end" in ending:
        old["participant"][0]["period"]["end"] = ending["participant_end"]
    if "status" in ending:
        old["status"] = ending["status"]
    if "team_end" in ending:
        old["period"] = {"start": "2019-01-01", "end": ending["team_end"]}
    if "delete" in ending:
        assert (await client.delete(f"/CareTeam/{old_id}")).status_code == 204
    else:
        assert (await put(client, old)).status_code == 200

    response = await post(client, new)
    assert response.status_code == 201, response.text


async def test_a_contact_ending_in_the_future_still_holds_the_slot(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    first = participant(LAKARE, "PractitionerRole/lakare-1", start="2019-01-01", end=FUTURE)
    await created(client, care_team(pid, first))
    response = await post(client, care_team(pid, participant(LAKARE, "PractitionerRole/l-2")))
    assert expressions(response) == ["CareTeam.participant[0]"]


async def test_a_successor_may_start_when_the_predecessor_ends(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    ending = participant(LAKARE, "PractitionerRole/lakare-1", start="2019-01-01", end="2098-01-31")
    await created(client, care_team(pid, ending))
    overlapping = participant(LAKARE, "PractitionerRole/lakare-2", start="2098-01-31")
    assert (await post(client, care_team(pid, overlapping))).status_code == 422
    successor = participant(LAKARE, "PractitionerRole/lakare-2", start="2098-02-01")
    response = await post(client, care_team(pid, successor))
    assert response.status_code == 201, response.text


async def test_one_fast_vardkontakt_per_care_unit(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    at_primary_care = care_team(pid, participant(VARD, "PractitionerRole/skoterska-1"))
    at_psychiatry = care_team(
        pid, participant(VARD, "PractitionerRole/skoterska-2"), unit="Organization/psykiatri"
    )
    first = await created(client, at_primary_care)
    assert (await post(client, at_psychiatry)).status_code == 201

    again = care_team(pid, participant(VARD, "PractitionerRole/skoterska-3"))
    response = await post(client, again)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CareTeam.participant[0]"]]
    assert "fast vårdkontakt på samma vårdenhet" in issues[0]["diagnostics"]
    assert f"CareTeam/{first}" in issues[0]["diagnostics"]


async def test_two_fast_vardkontakter_of_one_team_and_unit_are_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    team = care_team(
        pid,
        participant(VARD, "PractitionerRole/skoterska-1"),
        participant(VARD, "PractitionerRole/skoterska-2"),
    )
    assert expressions(await post(client, team)) == ["CareTeam.participant[1]"]


async def test_a_transaction_adding_two_fast_lakarkontakter_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    entries = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": care_team(pid, participant(LAKARE, f"PractitionerRole/lakare-{n}")),
            "request": {"method": "POST", "url": "CareTeam"},
        }
        for n in (1, 2)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    assert any("fast läkarkontakt" in i["diagnostics"] for i in response.json()["issue"])
    found = await client.get("/CareTeam", params={"patient": f"Patient/{pid}"})
    assert found.json().get("entry", []) == []


def widen_the_race(app: FastAPI) -> None:
    """Hold every CareTeam write a moment between the rules' counting and its commit.

    Without it the in-process requests rarely overlap (validation, not the database, takes
    most of a write's time), and a missing lock would go unnoticed.
    """
    server = app.state.server
    assert isinstance(server, ServerContext)
    original = server.authorize

    async def linger(_repo: Repository, change: Change) -> None:
        if change.resource_type == "CareTeam":
            await asyncio.sleep(0.1)

    async def authorize(request: Request) -> RequestScope:
        scope = await original(request)
        return dataclasses.replace(scope, rules=(*scope.rules, linger))

    app.state.server = dataclasses.replace(server, authorize=authorize)


async def test_concurrent_writes_store_exactly_one_fast_lakarkontakt(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Requests racing to give one patient a fast läkarkontakt: one wins, the others get 422.

    On PostgreSQL the writes really run at once; the per-patient advisory lock makes each
    count after the previous one committed. On SQLite BEGIN IMMEDIATE serialises them anyway.
    """
    pid = await tolvan(client)
    widen_the_race(app)
    count = 4
    teams = [
        care_team(pid, participant(LAKARE, f"PractitionerRole/lakare-{n}")) for n in range(count)
    ]
    responses = await asyncio.gather(*(post(client, team) for team in teams))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * (count - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert expressions(response) == ["CareTeam.participant[0]"]
    role = f"{CANONICALS.care_team_role}|{LAKARE}"
    found = await client.get(
        "/CareTeam", params={"patient": f"Patient/{pid}", "participant-role": role}
    )
    assert len(found.json()["entry"]) == 1


async def test_concurrent_fast_vardkontakter_at_one_unit_store_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    pid = await tolvan(client)
    widen_the_race(app)

    async def add(n: int, unit: str) -> httpx.Response:
        team = care_team(pid, participant(VARD, f"PractitionerRole/skoterska-{n}"), unit=unit)
        return await post(client, team)

    responses = await asyncio.gather(
        add(1, "Organization/vardcentral"),
        add(2, "Organization/vardcentral"),
        add(3, "Organization/psykiatri"),
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses[:2]) == [201, 422], [r.text for r in responses]
    assert statuses[2] == 201, responses[2].text
