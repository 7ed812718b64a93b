"""The product's example contract (fhir_profiles/examples) keeps the contract's rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from tests.api.builders import FHIR_JSON

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[3] / "fhir_profiles" / "examples" / "contract-bundle.json"


async def test_the_example_contract_is_stored_once_and_not_twice(
    client: httpx.AsyncClient,
) -> None:
    """Posted again, the Patient matches (ifNoneExist) and his contacts are taken already."""
    bundle = orjson.loads(EXAMPLE.read_bytes())
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert all(s.startswith("201") for s in statuses), statuses

    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    issues = response.json()["issue"]
    assert {i["code"] for i in issues} == {"business-rule"}
    assert {e for i in issues for e in i["expression"]} == {
        "CareTeam.participant[0]",
        "CareTeam.participant[1]",
    }
