"""The real thing: `patientkontrakt migrate` and `serve` as processes, spoken to over HTTP.

No DATABASE_URL is given, so the service uses its default SQLite file under PK_DATA_DIR.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_process import Server, running_service

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER = "191212121212"  # Tolvan Tolvansson, the well-known test number
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A migrated data dir and a running `patientkontrakt serve`, stopped after the test."""
    with running_service(tmp_path) as running:
        yield running


def test_metadata_and_core_cycle(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=10, headers=server.auth) as client:
        metadata = client.get("/metadata")
        assert metadata.status_code == 200
        assert metadata.headers["content-type"].startswith(FHIR_JSON)
        capability = metadata.json()
        assert capability["resourceType"] == "CapabilityStatement"
        assert capability["fhirVersion"] == "4.0.1"

        tolvan = {
            "resourceType": "Patient",
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": PERSONNUMMER}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        }
        created = client.post("/Patient", json=tolvan, headers={"Content-Type": FHIR_JSON})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        assert created.headers["etag"] == 'W/"1"'
        assert created.headers["location"] == f"{server.base}/Patient/{pid}/_history/1"

        read = client.get(f"/Patient/{pid}")
        assert read.status_code == 200
        assert read.content == created.content
        assert read.json()["identifier"][0]["value"] == PERSONNUMMER

        found = client.get(
            "/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{PERSONNUMMER}"}
        )
        assert found.status_code == 200
        assert [e["resource"]["id"] for e in found.json()["entry"]] == [pid]

        body = read.json()
        body["active"] = True
        updated = client.put(
            f"/Patient/{pid}", json=body, headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}
        )
        assert updated.status_code == 200, updated.text
        assert updated.headers["etag"] == 'W/"2"'
        assert updated.json()["active"] is True

        stale = client.put(
            f"/Patient/{pid}", json=body, headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}
        )
        assert stale.status_code == 412

        history = client.get(f"/Patient/{pid}/_history")
        assert history.status_code == 200
        assert history.json()["type"] == "history"
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2", "1"]

        deleted = client.delete(f"/Patient/{pid}")
        assert deleted.status_code == 204
        gone = client.get(f"/Patient/{pid}")
        assert gone.status_code == 410
        assert gone.json()["resourceType"] == "OperationOutcome"

        missing = client.get(f"/Patient/{pid}-no-such-patient")
        assert missing.status_code == 404

    # The paging key was made in the data dir, readable by the service's user only.
    key = server.data_dir / "paging.key"
    assert key.is_file()
    assert key.stat().st_mode & 0o077 == 0


def test_personnummer_stays_out_of_the_log(server: Server) -> None:
    criteria = f"{PERSONNUMMER_SYSTEM}|{PERSONNUMMER}"
    with httpx.Client(base_url=server.base, timeout=10, headers=server.auth) as client:
        created = client.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": PERSONNUMMER}],
            },
            headers={"Content-Type": FHIR_JSON},
        )
        assert created.status_code == 201, created.text
        # In the query string of a search, a conditional create and a failing request.
        assert client.get("/Patient", params={"identifier": criteria}).status_code == 200
        again = client.post(
            "/Patient",
            json={"resourceType": "Patient"},
            headers={"Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={criteria}"},
        )
        assert again.status_code == 200
        unsupported = client.get(
            "/Patient", params={"nonsense": PERSONNUMMER}, headers={"Prefer": "handling=strict"}
        )
        assert unsupported.status_code == 400
        invalid = client.post(
            "/Patient",
            json={"resourceType": "Patient", "identifier": [{"value": PERSONNUMMER, "x": 1}]},
            headers={"Content-Type": FHIR_JSON},
        )
        assert invalid.status_code == 422

    output = server.output()
    assert "Application startup complete" in output  # the log was captured at all
    assert PERSONNUMMER not in output
