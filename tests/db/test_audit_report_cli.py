"""`patientkontrakt audit-report`: who accessed a patient's data and why, on both databases."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest
from typer.testing import CliRunner, Result

from patientkontrakt.cli import app as cli
from patientkontrakt.security import audit_report
from patientkontrakt.security.audit import AuditRecord, write_audit
from patientkontrakt.store.transactions import Store
from tests.db.audit_fixtures import (  # noqa: F401  (store is a fixture)
    CLINICIAN,
    NURSE,
    PORTAL,
    at,
    store,
)

pytestmark = pytest.mark.anyio

RECORDS = [
    # 2026-11-27 23:30 UTC is 2026-11-28 00:30 in Stockholm: the 28th there.
    AuditRecord(
        CLINICIAN, "read", "CarePlan", ("CarePlan/cp1",), recorded=at("2026-11-27T23:30:00+00:00")
    ),
    # 22:59 UTC on the 27th is still the 27th in Stockholm: outside the report.
    AuditRecord(
        CLINICIAN, "read", "CarePlan", ("CarePlan/cp1",), recorded=at("2026-11-27T22:59:00+00:00")
    ),
    AuditRecord(
        NURSE,
        "search",
        "CarePlan",
        ("CarePlan/cp1", "CarePlan/cp-other"),
        query="status=active",
        recorded=at("2026-11-28T12:00:00+00:00"),
    ),
    AuditRecord(
        PORTAL,
        "operation",
        "Patient",
        ("Patient/tolvan",),
        operation="$patient-contract",
        recorded=at("2026-11-28T15:00:00+00:00"),
    ),
    # Someone else's patient only.
    AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp-other",),
        recorded=at("2026-11-28T16:00:00+00:00"),
    ),
    AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp1",),
        outcome=403,
        recorded=at("2026-11-29T22:30:00+00:00"),  # 2026-11-29 23:30 in Stockholm
    ),
    AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp1",),
        recorded=at("2026-11-29T23:30:00+00:00"),  # the 30th in Stockholm: outside
    ),
]


@pytest.fixture
async def audited(store: Store) -> Store:  # noqa: F811
    async with store.writing() as repo:
        await write_audit(repo, RECORDS)
    return store


async def run(*args: str) -> Result:
    # The command runs its own event loop, so it goes to a thread of its own.
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(cli, ["audit-report", *args]))


async def test_the_table_lists_accesses_oldest_first_in_swedish_time(
    audited: Store, cli_env: None
) -> None:
    result = await run("--patient", "tolvan", "--from", "2026-11-28", "--to", "2026-11-29")

    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split() == [
        "TIME",
        "WHO",
        "CLIENT",
        "ACTION",
        "PURPOSE",
        "OUTCOME",
        "RESOURCES",
    ]
    assert [line[:19] for line in lines] == [
        "2026-11-28 00:30:00",
        "2026-11-28 13:00:00",
        "2026-11-28 16:00:00",
        "2026-11-29 23:30:00",
    ]
    read, searched, contract, denied = lines
    assert "PractitionerRole/pr-anna (sub-anna)" in read
    assert "cosmic" in read
    assert " read " in read
    assert " TREAT " in read
    assert "200 OK" in read
    assert read.endswith("CarePlan/cp1")
    assert "PractitionerRole/pr-bertil (sub-bertil)" in searched
    assert "search-type" in searched
    assert "ETREAT: Medvetslös på akuten" in searched
    assert searched.endswith("CarePlan?status=active -> CarePlan/cp1, CarePlan/cp-other")
    assert "Patient/tolvan (sub-tolvan)" in contract
    assert "portal" in contract
    assert "operation $patient-contract" in contract
    assert "403 Forbidden" in denied


async def test_json_and_identifier(audited: Store, cli_env: None) -> None:
    result = await run(
        "--identifier",
        "http://electronichealth.se/identifier/personnummer|191212121212",
        "--from",
        "2026-11-28",
        "--to",
        "2026-11-28",
        "--format",
        "json",
    )

    assert result.exit_code == 0, result.output
    lines: list[dict[str, Any]] = orjson.loads(result.output)
    assert [line["time"] for line in lines] == [
        "2026-11-28 00:30:00",
        "2026-11-28 13:00:00",
        "2026-11-28 16:00:00",
    ]
    first = lines[0]
    assert first["who"] == "PractitionerRole/pr-anna"
    assert first["subject"] == "sub-anna"
    assert first["client"] == "cosmic"
    assert first["action"] == "read"
    assert first["purpose"] == "TREAT"
    assert first["outcome"] == "200 OK"
    assert first["resources"] == ["CarePlan/cp1"]
    assert first["query"] is None
    assert first["event"].startswith("AuditEvent/")
    assert lines[1]["query"] == "CarePlan?status=active"
    assert lines[2]["resources"] == []  # the patient himself is the report's subject


async def test_pages_are_followed(
    audited: Store, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_report, "PAGE_SIZE", 1)
    result = await run(
        "--patient",
        "Patient/tolvan",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    times = [line["time"] for line in orjson.loads(result.output)]
    assert times == [
        "2026-11-27 23:59:00",
        "2026-11-28 00:30:00",
        "2026-11-28 13:00:00",
        "2026-11-28 16:00:00",
        "2026-11-29 23:30:00",
        "2026-11-30 00:30:00",
    ]


async def test_another_patient_sees_only_his_own(audited: Store, cli_env: None) -> None:
    result = await run("--patient", "other", "--from", "2026-11-28", "--to", "2026-11-28")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]
    assert [line[:19] for line in lines] == ["2026-11-28 13:00:00", "2026-11-28 17:00:00"]


async def test_nothing_to_report(audited: Store, cli_env: None) -> None:
    result = await run("--patient", "tolvan", "--from", "2025-01-01", "--to", "2025-12-31")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient", "tolvan", "--from", "28/11/2026", "--to", "2026-11-30"], "--from"),
        (["--patient", "tolvan", "--from", "2026-11-01", "--to", "soon"], "--to"),
        (["--from", "2026-11-01", "--to", "2026-11-30"], "--patient or --identifier"),
        (
            ["--identifier", "urn:x|nobody", "--from", "2026-11-01", "--to", "2026-11-30"],
            "no Patient",
        ),
    ],
)
async def test_errors(audited: Store, cli_env: None, args: list[str], message: str) -> None:
    result = await run(*args)
    assert result.exit_code == 1
    assert message in result.output


async def test_an_unknown_format(cli_env: None) -> None:
    result = await run(
        "--patient", "tolvan", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "xml"
    )
    assert result.exit_code == 2
    assert "table or json" in result.output
