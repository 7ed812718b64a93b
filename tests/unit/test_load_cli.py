"""`patientkontrakt load FILE...`: Bundles and NDJSON through the ordinary write path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from patientkontrakt.app import create_app
from patientkontrakt.cli import app
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.store import migrate
from patientkontrakt.store.database import sync_url
from tests.conftest import SYSTEM_SCOPE, Tokens, throwaway_postgres_database

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
BASE = "http://test/fhir"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated SQLite file; the cached settings cleared around the test."""
    url = f"sqlite:///{tmp_path / 'load.db'}"
    migrate.upgrade(url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run_load(url: str, data_dir: Path, *args: str) -> Result:
    runner = CliRunner()
    env = {"DATABASE_URL": url, "PK_DATA_DIR": str(data_dir), "PK_BASE_URL": BASE}
    return runner.invoke(app, ["load", *args], env=env)


def write_json(path: Path, value: Any) -> Path:
    path.write_bytes(orjson.dumps(value))
    return path


def write_ndjson(path: Path, resources: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    return path


def fake_patient(value: str, resource_id: str | None = None) -> dict[str, Any]:
    """A patient with a made-up identifier in a test system (never a personnummer)."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:test:patient", "value": value}],
        "name": [{"family": "Testsson", "given": [value]}],
    }
    if resource_id is not None:
        patient["id"] = resource_id
    return patient


def tolvan() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": "191212121212"}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
    }


def care_plan(patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": patient_ref},
    }


class Stored:
    """What the database holds, read through the API."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.settings = Settings(
            database_url=url, data_dir=data_dir, paging_secret="test", base_url=BASE
        )

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        async def fetch() -> httpx.Response:
            application = create_app(self.settings)
            transport = httpx.ASGITransport(app=application)
            headers = Tokens(self.settings).headers(SYSTEM_SCOPE)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url=BASE, headers=headers
                ) as client:
                    return await client.get(path, params=params)
            finally:
                await application.state.server.store.dispose()

        return asyncio.run(fetch())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Current resources of a type by id."""
        response = self.get(f"/{resource_type}", {"_count": "1000"})
        assert response.status_code == 200, response.text
        return {e["resource"]["id"]: e["resource"] for e in response.json().get("entry", [])}

    def version_count(self) -> int:
        response = self.get("/_history", {"_count": "1000"})
        assert response.status_code == 200, response.text
        return len(response.json().get("entry", []))

    def read(self, resource_type: str, resource_id: str) -> httpx.Response:
        return self.get(f"/{resource_type}/{resource_id}")


def test_transaction_bundle(database_url: str, tmp_path: Path) -> None:
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_urn,
                "resource": tolvan(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": care_plan(patient_urn), "request": {"method": "POST", "url": "CarePlan"}},
        ],
    }
    result = run_load(database_url, tmp_path, str(write_json(tmp_path / "tx.json", bundle)))
    assert result.exit_code == 0, result.output
    assert "loaded 2 resources" in result.output

    stored = Stored(database_url, tmp_path)
    patients = stored.resources("Patient")
    plans = stored.resources("CarePlan")
    assert len(patients) == 1
    assert len(plans) == 1
    (pid,) = patients
    (plan,) = plans.values()
    assert plan["subject"]["reference"] == f"Patient/{pid}"
    assert patients[pid]["identifier"][0]["value"] == "191212121212"


def test_invalid_transaction_bundle_stores_nothing(database_url: str, tmp_path: Path) -> None:
    invalid_plan = care_plan("Patient/whoever")
    del invalid_plan["status"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": tolvan(), "request": {"method": "POST", "url": "Patient"}},
            {"resource": invalid_plan, "request": {"method": "POST", "url": "CarePlan"}},
        ],
    }
    path = write_json(tmp_path / "bad-tx.json", bundle)
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code != 0
    assert "bad-tx.json" in result.output
    assert "status" in result.output
    assert Stored(database_url, tmp_path).version_count() == 0


def test_collection_bundle_keeps_the_ids_it_gives(database_url: str, tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{BASE}/Patient/tolvan", "resource": {**tolvan(), "id": "tolvan"}},
            {"resource": {**care_plan("Patient/tolvan"), "id": "plan-1"}},
            {"resource": care_plan("Patient/tolvan")},
        ],
    }
    result = run_load(database_url, tmp_path, str(write_json(tmp_path / "c.json", bundle)))
    assert result.exit_code == 0, result.output
    assert "loaded 3 resources" in result.output

    stored = Stored(database_url, tmp_path)
    assert set(stored.resources("Patient")) == {"tolvan"}
    plans = stored.resources("CarePlan")
    assert len(plans) == 2
    assert "plan-1" in plans
    assert all(p["subject"]["reference"] == "Patient/tolvan" for p in plans.values())
    read = stored.read("Patient", "tolvan")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    # Indexed like any write: found by identifier search.
    found = stored.get("/Patient", {"identifier": f"{PERSONNUMMER_SYSTEM}|191212121212"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == ["tolvan"]


def test_single_resource_file(database_url: str, tmp_path: Path) -> None:
    path = write_json(tmp_path / "one.json", {**tolvan(), "id": "tolvan"})
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code == 0, result.output
    assert "loaded 1 resources" in result.output
    assert set(Stored(database_url, tmp_path).resources("Patient")) == {"tolvan"}


def test_ndjson_with_and_without_ids(database_url: str, tmp_path: Path) -> None:
    resources = [
        fake_patient("p1", "patient-1"),
        fake_patient("p2"),
        care_plan("Patient/patient-1"),
        fake_patient("p3", "patient-3"),
    ]
    path = write_ndjson(tmp_path / "data.ndjson", resources)
    path.write_bytes(path.read_bytes() + b"\n   \n")  # blank lines are skipped
    result = run_load(database_url, tmp_path, "--batch-size", "2", str(path))
    assert result.exit_code == 0, result.output
    assert "loaded 4 resources" in result.output

    stored = Stored(database_url, tmp_path)
    patients = stored.resources("Patient")
    assert len(patients) == 3
    assert {"patient-1", "patient-3"} <= set(patients)
    (generated,) = set(patients) - {"patient-1", "patient-3"}
    assert patients[generated]["identifier"][0]["value"] == "p2"
    assert uuid.UUID(generated)  # the server's own kind of id
    assert patients["patient-1"]["meta"]["versionId"] == "1"
    (plan,) = stored.resources("CarePlan").values()
    assert plan["subject"]["reference"] == "Patient/patient-1"
    assert stored.version_count() == 4


def test_several_files_in_one_run(database_url: str, tmp_path: Path) -> None:
    first = write_ndjson(tmp_path / "a.ndjson", [fake_patient("p1"), fake_patient("p2")])
    second = write_json(tmp_path / "b.json", {**tolvan(), "id": "tolvan"})
    result = run_load(database_url, tmp_path, str(first), str(second))
    assert result.exit_code == 0, result.output
    assert "loaded 3 resources" in result.output
    assert len(Stored(database_url, tmp_path).resources("Patient")) == 3


def test_loading_known_ids_again_updates_them(database_url: str, tmp_path: Path) -> None:
    first = write_ndjson(tmp_path / "v1.ndjson", [fake_patient("p1", "patient-1")])
    assert run_load(database_url, tmp_path, str(first)).exit_code == 0
    changed = {**fake_patient("p1", "patient-1"), "active": True}
    second = write_ndjson(tmp_path / "v2.ndjson", [changed])
    result = run_load(database_url, tmp_path, str(second))
    assert result.exit_code == 0, result.output

    stored = Stored(database_url, tmp_path)
    read = stored.read("Patient", "patient-1")
    assert read.headers["etag"] == 'W/"2"'
    assert read.json()["active"] is True
    assert stored.version_count() == 2


def test_one_id_twice_in_a_chunk_is_created_then_updated(database_url: str, tmp_path: Path) -> None:
    resources = [
        fake_patient("p1", "patient-1"),
        {**fake_patient("p1", "patient-1"), "active": True},
    ]
    result = run_load(database_url, tmp_path, str(write_ndjson(tmp_path / "d.ndjson", resources)))
    assert result.exit_code == 0, result.output
    stored = Stored(database_url, tmp_path)
    read = stored.read("Patient", "patient-1")
    assert read.headers["etag"] == 'W/"2"'
    assert read.json()["active"] is True


def test_invalid_resource_fails_and_its_chunk_is_not_stored(
    database_url: str, tmp_path: Path
) -> None:
    resources = [
        fake_patient("p1", "patient-1"),
        fake_patient("p2", "patient-2"),
        fake_patient("p3", "patient-3"),
        {**fake_patient("p4", "patient-4"), "active": "yes"},  # invalid: not a JSON boolean
        fake_patient("p5", "patient-5"),
    ]
    path = write_ndjson(tmp_path / "bad.ndjson", resources)
    result = run_load(database_url, tmp_path, "--batch-size", "2", str(path))
    assert result.exit_code != 0
    assert "load failed" in result.output
    assert "bad.ndjson" in result.output
    assert "Patient.active" in result.output
    # The first chunk committed; the failing chunk (p3, p4) left nothing; p5 was never reached.
    stored = Stored(database_url, tmp_path)
    assert set(stored.resources("Patient")) == {"patient-1", "patient-2"}
    assert stored.read("Patient", "patient-3").status_code == 404
    assert stored.version_count() == 2


def test_unknown_resource_type_fails(database_url: str, tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "x.ndjson", [{"resourceType": "NoSuchType", "id": "x"}])
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code != 0
    assert "x.ndjson" in result.output
    assert Stored(database_url, tmp_path).version_count() == 0


def test_line_that_is_not_a_resource_fails(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "lines.ndjson"
    path.write_bytes(orjson.dumps(fake_patient("p1")) + b"\n[1, 2]\n")
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code != 0
    assert "lines.ndjson:2" in result.output
    assert Stored(database_url, tmp_path).version_count() == 0


def test_file_that_is_not_json_fails(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code != 0
    assert "broken.json" in result.output


def test_missing_file_fails(database_url: str, tmp_path: Path) -> None:
    result = run_load(database_url, tmp_path, str(tmp_path / "absent.ndjson"))
    assert result.exit_code != 0
    assert "load failed" in result.output
    assert Stored(database_url, tmp_path).version_count() == 0


def test_batch_bundle_with_a_failing_entry_fails(database_url: str, tmp_path: Path) -> None:
    """A batch's failed entry must not be counted as loaded, nor pass unnoticed."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": fake_patient("p1"), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**fake_patient("p2"), "active": "yes"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    path = write_json(tmp_path / "batch.json", bundle)
    result = run_load(database_url, tmp_path, str(path))
    assert result.exit_code != 0, result.output
    assert "batch.json" in result.output
    assert "Patient.active" in result.output


def test_batch_bundle(database_url: str, tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": fake_patient("p1"), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": fake_patient("p2", "patient-2"),
                "request": {"method": "PUT", "url": "Patient/patient-2"},
            },
        ],
    }
    result = run_load(database_url, tmp_path, str(write_json(tmp_path / "b.json", bundle)))
    assert result.exit_code == 0, result.output
    assert "loaded 2 resources" in result.output
    patients = Stored(database_url, tmp_path).resources("Patient")
    assert len(patients) == 2
    assert "patient-2" in patients


@pytest.mark.postgres
def test_a_load_into_postgresql_leaves_fresh_planner_statistics(tmp_path: Path) -> None:
    """Until a table is analysed its planner statistics are those of an empty table
    (`reltuples` -1): searches right after a bulk load would be planned for no rows."""
    with throwaway_postgres_database("pk_load") as url:
        migrate.upgrade(url)
        path = write_ndjson(tmp_path / "data.ndjson", [fake_patient(f"p{n}") for n in range(5)])
        result = run_load(url, tmp_path, str(path))
        assert result.exit_code == 0, result.output
        engine = create_engine(sync_url(url))
        try:
            with engine.connect() as conn:
                counted = dict(
                    conn.execute(
                        text(
                            "SELECT relname, reltuples FROM pg_class "
                            "WHERE relname IN ('resource', 'resource_version', 'token_index')"
                        )
                    ).all()
                )
        finally:
            engine.dispose()
    assert counted["resource"] == 5
    assert counted["resource_version"] == 5
    assert counted["token_index"] >= 5  # an identifier each, at least
