"""Authentication: no or expired token gives 401 with a challenge; the open routes need none."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from patientkontrakt.config import Settings
from patientkontrakt.security.tokens import issue_dev_token
from tests.api.builders import FHIR_JSON
from tests.api.security.dataset import Dataset
from tests.api.security.helpers import outcome

pytestmark = pytest.mark.anyio

CHALLENGE = 'Bearer realm="patientkontrakt"'


def _requests(data: Dataset) -> list[tuple[str, str, dict[str, Any] | None]]:
    goal: dict[str, Any] = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Ny"},
        "subject": {"reference": data.ref("P1")},
    }
    transaction: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": goal, "request": {"method": "POST", "url": "Goal"}}],
    }
    return [
        ("GET", f"/CarePlan/{data.P1_PLAN}", None),
        ("GET", "/CarePlan", None),
        ("GET", f"/CarePlan?subject=Patient/{data.P1}", None),
        ("POST", "/Goal", goal),
        ("POST", "", transaction),
        ("GET", f"/Patient/{data.P1}/$patient-contract", None),
        ("GET", f"/CarePlan/{data.P1_PLAN}/_history", None),
        ("GET", "/AuditEvent", None),
    ]


async def test_no_token_gives_401_with_challenge(
    anonymous_client: httpx.AsyncClient, client: httpx.AsyncClient, data: Dataset
) -> None:
    goals_before = (await client.get("/Goal", params={"_summary": "count"})).json()["total"]
    for method, url, body in _requests(data):
        response = await anonymous_client.request(
            method, url, json=body, headers=FHIR_JSON if body else None
        )
        issue = outcome(response, 401, "login")["issue"][0]
        assert response.headers["www-authenticate"] == CHALLENGE, (method, url)
        assert "authentication required" in issue["diagnostics"]
        assert response.headers["x-request-id"]
    goals_after = (await client.get("/Goal", params={"_summary": "count"})).json()["total"]
    assert goals_after == goals_before


async def test_other_scheme_than_bearer_is_no_token(
    anonymous_client: httpx.AsyncClient, data: Dataset
) -> None:
    response = await anonymous_client.get(
        f"/CarePlan/{data.P1_PLAN}", headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    outcome(response, 401, "login")
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_open_routes_need_no_token(anonymous_client: httpx.AsyncClient) -> None:
    metadata = await anonymous_client.get("/metadata")
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["resourceType"] == "CapabilityStatement"

    smart = await anonymous_client.get("/.well-known/smart-configuration")
    assert smart.status_code == 200, smart.text
    assert smart.headers["content-type"].startswith("application/json")
    assert "permission-v2" in smart.json()["capabilities"]

    health = await anonymous_client.get("http://test/healthz")
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok"}


async def test_expired_token_gives_401(
    anonymous_client: httpx.AsyncClient, settings: Settings, data: Dataset
) -> None:
    hour_ago = int(time.time()) - 3600
    token = issue_dev_token(
        settings, scope="system/*.cruds", client_id="pytest", minutes=5, now=hour_ago
    )
    response = await anonymous_client.get(
        f"/CarePlan/{data.P1_PLAN}", headers={"Authorization": f"Bearer {token}"}
    )
    outcome(response, 401, "expired")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'{CHALLENGE}, error="invalid_token"')
    assert "expired" in challenge
    assert token not in response.text
    assert token not in challenge


async def test_token_for_a_patient_from_a_tampered_signature_gives_401(
    anonymous_client: httpx.AsyncClient, settings: Settings, data: Dataset
) -> None:
    token = issue_dev_token(settings, scope="patient/*.rs", patient=data.P1, client_id="pytest")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = await anonymous_client.get(
        f"/CarePlan/{data.P1_PLAN}", headers={"Authorization": f"Bearer {forged}"}
    )
    outcome(response, 401, "security")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
