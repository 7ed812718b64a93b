"""The product's own SearchParameters, loaded from fhir_profiles/search-parameters/."""

from __future__ import annotations

import httpx
import pytest

from tests.api.search.helpers import put, search

pytestmark = pytest.mark.anyio

ROLES = "urn:test:care-team-role"


def team(team_id: str, role: str) -> dict[str, object]:
    return {
        "resourceType": "CareTeam",
        "id": team_id,
        "status": "active",
        "subject": {"reference": "Patient/tolvan"},
        "participant": [{"role": [{"coding": [{"system": ROLES, "code": role}]}]}],
    }


async def test_care_team_by_participant_role(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "tolvan"})
    await put(client, team("doctor", "fast-lakarkontakt"))
    await put(client, team("nurse", "fast-vardkontakt"))

    found = await search(
        client, "/CareTeam", {"patient": "tolvan", "participant-role": f"{ROLES}|fast-lakarkontakt"}
    )

    assert found == ["doctor"]


async def test_participant_role_is_listed_in_the_capability_statement(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/metadata")).json()
    care_team = next(r for r in body["rest"][0]["resource"] if r["type"] == "CareTeam")
    params = {p["name"]: p for p in care_team["searchParam"]}
    assert params["participant-role"]["type"] == "token"
    assert params["participant-role"]["definition"].endswith("/CareTeam-participant-role")
