"""`patientkontrakt reindex` rebuilds the index tables from stored resources, on both databases."""

from __future__ import annotations

from collections import Counter

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from patientkontrakt.cli import app as cli
from patientkontrakt.config import Settings
from patientkontrakt.security.audit_journal import drain, journal_folder
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import INDEX_TABLES, resource, string_index

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def count_rows(url: str) -> Counter[tuple[str, str]]:
    """Index rows per resource (type, id), over every index table."""
    engine = create_engine(sync_url(url))
    rows: Counter[tuple[str, str]] = Counter()
    with engine.connect() as conn:
        for t in INDEX_TABLES:
            counted = select(t.c.resource_type, t.c.resource_id, func.count()).group_by(
                t.c.resource_type, t.c.resource_id
            )
            for resource_type, resource_id, n in conn.execute(counted):
                rows[(resource_type, resource_id)] += n
    engine.dispose()
    return rows


def current_by_type(url: str) -> Counter[str]:
    """How many current (not deleted) resources the store holds of each type."""
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        counted = (
            select(resource.c.resource_type, func.count())
            .where(resource.c.deleted.is_(False))
            .group_by(resource.c.resource_type)
        )
        found = Counter({resource_type: n for resource_type, n in conn.execute(counted)})
    engine.dispose()
    return found


def wipe_string_index(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(string_index.delete())
    engine.dispose()


@pytest.mark.anyio
async def test_reindex_restores_lost_index_rows(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, cli_env: None
) -> None:
    for family in ("Tolvansson", "Östlund", "Berg"):
        body = {"resourceType": "Patient", "name": [{"family": family}]}
        assert (await client.post("/Patient", json=body, headers=FHIR_JSON)).status_code == 201
    deleted = await client.post(
        "/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Borta"}]},
        headers=FHIR_JSON,
    )
    assert (await client.delete(f"/Patient/{deleted.json()['id']}")).status_code == 204
    url = settings.resolved_database_url()
    before = count_rows(url)
    wipe_string_index(url)
    # As if the name parameter had just been added: nothing found until reindexed.
    lost = await client.get("/Patient", params={"family": "östlund"})
    assert "entry" not in lost.json()
    # Besides the 3 patients the store holds the Provenance of each of the 5 writes and the
    # AuditEvents of the requests so far; reindex rebuilds theirs too.
    current = current_by_type(url)
    assert (current["Patient"], current["Provenance"]) == (3, 5)
    assert set(current) == {"Patient", "Provenance", "AuditEvent"}

    # The command runs its own event loop, so it goes to a thread of its own.
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(cli, ["reindex", "--batch-size", "2"])
    )

    assert result.exit_code == 0, result.output
    assert f"reindexed {current.total()} resources" in result.output
    found = await client.get("/Patient", params={"family": "östlund"})
    assert [e["resource"]["name"][0]["family"] for e in found.json()["entry"]] == ["Östlund"]
    # Same rows as written with the versions, and none for the deleted patient; the only
    # resources new since are the AuditEvents of the searches made after counting (moved in
    # from the audit journal).
    folder = journal_folder(settings.data_dir)
    await drain(folder, app.state.server.store, base_url=settings.base_url or "")
    after = count_rows(url)
    assert {key: after[key] for key in before} == before
    assert {resource_type for resource_type, _ in after - before} == {"AuditEvent"}
    assert "entry" not in (await client.get("/Patient", params={"family": "borta"})).json()


def test_reindex_of_an_unknown_type_fails(cli_env: None) -> None:
    result = CliRunner().invoke(cli, ["reindex", "--type", "Nope"])
    assert result.exit_code == 1
    assert "Nope" in result.output
