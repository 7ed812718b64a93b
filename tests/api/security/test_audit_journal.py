"""Reads' audit records go through the audit journal: durable before the answer, searchable
right after it, moved into the store in the background, and no answer when they cannot be
written."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, func, select

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.security.audit_journal import journal_folder
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import resource
from tests.api import builders
from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import Dataset
from tests.api.security.helpers import request_id_of
from tests.conftest import SYSTEM_SCOPE, Tokens

pytestmark = pytest.mark.anyio

REVIEWER_SCOPE = "system/AuditEvent.rs"


def stored_audit_events(settings: Settings) -> int:
    """How many AuditEvents the database holds, read past the service."""
    engine = create_engine(sync_url(settings.resolved_database_url()))
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(resource)
            .where(resource.c.resource_type == "AuditEvent")
        ).scalar_one()
    engine.dispose()
    return int(count)


def journalled(settings: Settings) -> bytes:
    """Everything in the journal files."""
    return b"".join(p.read_bytes() for p in sorted(journal_folder(settings.data_dir).glob("*")))


async def test_a_reads_record_is_journalled_and_searchable_right_after(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, settings: Settings
) -> None:
    before = stored_audit_events(settings)
    read = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    assert read.status_code == 200
    request_id = read.headers["x-request-id"]
    # Durable in the journal, not yet in the store: nothing moves it in this test's app.
    assert request_id.encode() in journalled(settings)
    assert stored_audit_events(settings) == before

    # A reviewer's search drains the journal first.
    found = await client.get(
        "/AuditEvent",
        params={"patient": data.ref("P1"), "_count": "1000"},
        headers=callers.system(REVIEWER_SCOPE),
    )
    assert found.status_code == 200, found.text
    events = [e["resource"] for e in found.json().get("entry", [])]
    (event,) = [e for e in events if request_id_of(e) == request_id]
    assert {"reference": data.ref("P1_PLAN")} in [e["what"] for e in event["entity"]]
    assert stored_audit_events(settings) > before

    # As does a read of one AuditEvent by id (its id is in the journal line).
    again = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    again_id = again.headers["x-request-id"]
    (line,) = [line for line in journalled(settings).splitlines() if again_id.encode() in line]
    event_id = orjson.loads(line)["event_id"]
    direct = await client.get(f"/AuditEvent/{event_id}", headers=callers.system(REVIEWER_SCOPE))
    assert direct.status_code == 200, direct.text
    assert request_id_of(direct.json()) == again_id


async def test_reads_that_cannot_reach_audit_events_do_not_drain(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, settings: Settings
) -> None:
    await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    before = stored_audit_events(settings)
    # A clinician's search of CarePlans (a type, no AuditEvent named) leaves the journal be.
    search = await client.get(
        "/CarePlan", params={"subject": data.ref("P1")}, headers=callers.clinician("R1")
    )
    assert search.status_code == 200
    assert stored_audit_events(settings) == before
    # A search that may include AuditEvents drains it.
    revinclude = await client.get(
        "/Patient",
        params={"_id": data.P1, "_revinclude": "AuditEvent:patient"},
        headers=callers.system(REVIEWER_SCOPE + " system/Patient.rs"),
    )
    assert revinclude.status_code == 200, revinclude.text
    assert stored_audit_events(settings) > before


def _block(folder: Path) -> None:
    """Make the journal unwritable. Root ignores permission bits, so a plain file takes the
    folder's place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_bytes(b"")


def internal_error(response: httpx.Response) -> None:
    """The 500 OperationOutcome of a request that was not completed, and nothing else."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "fatal",
                "code": "exception",
                "diagnostics": "Internal server error; the request was not completed",
            }
        ],
    }


async def test_a_read_whose_record_cannot_be_journalled_is_not_answered(
    settings: Settings, tmp_path: Path
) -> None:
    blocked = settings.model_copy(update={"data_dir": tmp_path / "blocked"})
    folder = journal_folder(blocked.data_dir)
    _block(folder)
    app = create_app(blocked)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {**Tokens(blocked).headers(SYSTEM_SCOPE), **FHIR_JSON}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test/fhir", headers=headers
        ) as client:
            # Writes keep their AuditEvent in their own transaction: they need no journal.
            patient = await client.post("/Patient", json=builders.patient())
            assert patient.status_code == 201, patient.text
            patient_id = patient.json()["id"]
            plan = await client.post("/CarePlan", json=builders.care_plan(f"Patient/{patient_id}"))
            assert plan.status_code == 201, plan.text
            plan_id = plan.json()["id"]

            read = await client.get(f"/CarePlan/{plan_id}")
            internal_error(read)
            searched = await client.get("/CarePlan", params={"subject": patient_id})
            internal_error(searched)
            assert plan_id not in searched.text

            # Once the journal can be written again, reads are answered again.
            os.unlink(folder)
            assert (await client.get(f"/CarePlan/{plan_id}")).status_code == 200
    finally:
        await app.state.server.store.dispose()


async def test_the_lifespan_moves_the_journal_into_the_store(
    settings: Settings, tokens: Tokens
) -> None:
    app = create_app(settings)
    headers = tokens.headers(SYSTEM_SCOPE)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as client,
    ):
        before = stored_audit_events(settings)
        read = await client.get("/Patient", params={"_count": "1"}, headers=headers)
        assert read.status_code == 200
        for _ in range(100):  # the mover runs every 0.15 s
            if stored_audit_events(settings) > before:
                break
            await asyncio.sleep(0.05)
        assert stored_audit_events(settings) == before + 1
        await client.get("/Patient", params={"_count": "1"}, headers=headers)
    # Shutting down moves what is left and removes the files.
    assert stored_audit_events(settings) == before + 2
    assert list(journal_folder(settings.data_dir).glob("*.jsonl")) == []


async def test_without_the_journal_reads_commit_to_the_store_and_leftovers_are_moved(
    settings: Settings, tokens: Tokens
) -> None:
    headers = tokens.headers(SYSTEM_SCOPE)
    journalling = create_app(settings)
    transport = httpx.ASGITransport(app=journalling)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as client:
        assert (await client.get("/Patient", headers=headers)).status_code == 200
    # The process "dies" with its record still in the journal: its file is released.
    authorizer = journalling.state.server.authorize
    authorizer.journal.journal.close()
    await journalling.state.server.store.dispose()
    assert stored_audit_events(settings) == 0

    direct = create_app(settings.model_copy(update={"audit_journal": False}))
    transport = httpx.ASGITransport(app=direct)
    async with (
        direct.router.lifespan_context(direct),
        httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as client,
    ):
        assert stored_audit_events(settings) == 1  # the leftover, moved at start
        assert (await client.get("/Patient", headers=headers)).status_code == 200
        assert stored_audit_events(settings) == 2  # committed before the answer
    assert list(journal_folder(settings.data_dir).glob("*.jsonl")) == []
