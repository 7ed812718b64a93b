"""Minimal valid resources for API tests, as plain JSON dicts (a new dict on every call), and
what the store holds as system history shows it.

Only the test personnummer 191212121212 (Tolvan Tolvansson) is ever used.
"""

from __future__ import annotations

from typing import Any

import httpx

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
TOLVAN_PERSONNUMMER = "191212121212"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"

FHIR_JSON = {"Content-Type": "application/fhir+json"}
"""Request headers for a FHIR JSON body."""


def patient() -> dict[str, Any]:
    """Tolvan Tolvansson, with the well-known test personnummer."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": TOLVAN_PERSONNUMMER}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        "birthDate": "1912-12-12",
    }


def care_plan(patient_ref: str) -> dict[str, Any]:
    """A CarePlan (patientkontrakt) for `patient_ref` such as `Patient/123`."""
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Patientkontrakt",
        "subject": {"reference": patient_ref},
    }


def care_team(patient_ref: str) -> dict[str, Any]:
    """A CareTeam around `patient_ref`."""
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": "Fast vårdkontakt",
        "subject": {"reference": patient_ref},
    }


def appointment(patient_ref: str) -> dict[str, Any]:
    """A booked Appointment (överenskommen tid) with `patient_ref` taking part."""
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "start": "2026-11-28T09:15:00+01:00",
        "end": "2026-11-28T09:45:00+01:00",
        "participant": [{"actor": {"reference": patient_ref}, "status": "accepted"}],
    }


def organization() -> dict[str, Any]:
    """A care unit with a (made-up) HSA id."""
    return {
        "resourceType": "Organization",
        "identifier": [{"system": HSA_SYSTEM, "value": "SE0000000000-TEST1"}],
        "active": True,
        "name": "Vårdcentralen Test",
    }


# --- what the store holds -------------------------------------------------------------------


def is_provenance(entry: dict[str, Any]) -> bool:
    """Whether a history entry is a Provenance (the server stores one with every write)."""
    return str(entry["fullUrl"]).rsplit("/", 2)[-2] == "Provenance"


def provenance_targets(entries: list[dict[str, Any]]) -> list[str]:
    """The versions (`Type/id/_history/n`) the Provenance entries among `entries` name."""
    return [t["reference"] for e in entries if is_provenance(e) for t in e["resource"]["target"]]


def version_reference(entry: dict[str, Any]) -> str:
    """`Type/id/_history/n` of a history entry."""
    _, resource_type, resource_id = str(entry["fullUrl"]).rsplit("/", 2)
    etag = str(entry["response"]["etag"])
    assert etag.startswith('W/"'), etag
    assert etag.endswith('"'), etag
    return f"{resource_type}/{resource_id}/_history/{etag[3:-1]}"


async def stored_versions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The system history's entries (newest first) of the data that was written.

    System history also lists the Provenance each write stores; counting "what was stored"
    means the data, so they are left out here, but each must name a version listed, so a
    Provenance left behind by a write that failed still fails the test.
    """
    response = await client.get("/_history", params={"_count": "1000"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert all(link["relation"] != "next" for link in bundle.get("link", [])), "over 1000"
    entries = list(bundle.get("entry", []))
    data = [e for e in entries if not is_provenance(e)]
    listed = {version_reference(e) for e in data}
    orphans = [t for t in provenance_targets(entries) if t not in listed]
    assert not orphans, f"Provenance of versions that are not stored: {orphans}"
    return data


async def history_size(client: httpx.AsyncClient) -> int:
    """How many versions of data the store holds (see `stored_versions`)."""
    return len(await stored_versions(client))
