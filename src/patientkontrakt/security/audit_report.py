"""The audit report (loggranskning): who accessed one patient's data, when, how and why.

Read from the stored AuditEvents with the ordinary search engine
(`AuditEvent?patient=Patient/x&date=ge..&date=le..&_sort=date`), page after page, so the report
sees exactly what a FHIR client searching the audit log sees; like such a search, it first
drains the audit journal of PK_DATA_DIR into the store.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import orjson

from patientkontrakt.config import Settings
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner
from patientkontrakt.search.dates import parse_range
from patientkontrakt.search.engine import search_bundle
from patientkontrakt.security.audit import CLIENT_ID_SYSTEM, OBJECT_ROLE
from patientkontrakt.security.audit_journal import drain, journal_folder
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.transactions import Store

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PAGE_SIZE = 500


@dataclass(frozen=True)
class ReportLine:
    """One access, as the report shows it."""

    time: str
    """When, in Swedish local time (`2026-11-28 10:15:02`)."""
    who: str
    """The user's fhirUser, the patient, or the token subject."""
    subject: str
    client: str
    action: str
    """The restful interaction (`read`, `search-type`, `operation $patient-contract`, ...)."""
    purpose: str
    """`TREAT`, or `ETREAT: <declared reason>` for emergency access."""
    outcome: str
    resources: list[str]
    query: str | None
    """A search as asked, `CarePlan?status=active`."""
    event: str
    """`AuditEvent/id`, to look the full record up."""


def _check_date(value: str, name: str) -> None:
    try:
        parse_range(value)
    except ValueError as exc:
        raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD or a dateTime)") from exc


def _paging() -> Paging:
    # Cursors live only within this run: a throwaway key, nothing written to the data dir.
    return Paging(
        base="",
        signer=PageSigner(secrets.token_bytes(32), 3600),
        default_count=20,
        max_count=PAGE_SIZE,
    )


async def _all_pages(
    repo: Repository, resource_type: str, pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    paging = _paging()
    found: list[dict[str, Any]] = []
    while True:
        page = await search_bundle(repo, (resource_type,), resource_type, pairs, paging)
        # Entries hold the stored bytes as orjson fragments: one round trip makes them dicts.
        plain = orjson.loads(orjson.dumps(page))
        found += [e["resource"] for e in plain.get("entry", []) if e["search"]["mode"] == "match"]
        following = [link["url"] for link in plain.get("link", []) if link["relation"] == "next"]
        if not following:
            return found
        pairs = parse_qsl(urlsplit(following[0]).query, keep_blank_values=True)


async def _patient_ids(repo: Repository, identifier: str) -> list[str]:
    patients = await _all_pages(repo, "Patient", [("identifier", identifier)])
    return [str(p["id"]) for p in patients]


def _who(agent: dict[str, Any]) -> str:
    who = agent.get("who", {})
    if "reference" in who:
        return str(who["reference"])
    return str(who.get("identifier", {}).get("value", ""))


def _line(event: dict[str, Any]) -> ReportLine:
    agents = event.get("agent", [])
    user: dict[str, Any] = next((a for a in agents if a.get("requestor")), {})
    client = next(
        (
            _who(a)
            for a in agents
            if a.get("who", {}).get("identifier", {}).get("system") == CLIENT_ID_SYSTEM
            and not a.get("requestor")
        ),
        "",
    )
    purposes = []
    for concept in event.get("purposeOfEvent", []):
        code = ",".join(c.get("code", "") for c in concept.get("coding", []))
        purposes.append(f"{code}: {concept['text']}" if concept.get("text") else code)
    action = ",".join(c.get("code", "") for c in event.get("subtype", [])) or event.get(
        "action", ""
    )
    resources: list[str] = []
    query = None
    for entity in event.get("entity", []):
        role = entity.get("role", {})
        if role.get("system") == OBJECT_ROLE and role.get("code") == "1":
            continue  # the patient himself: the report is about him
        reference = entity.get("what", {}).get("reference")
        if reference:  # the request id entity names no resource
            resources.append(str(reference))
        if "query" in entity:
            try:
                asked = base64.b64decode(entity["query"]).decode()
            except (binascii.Error, UnicodeDecodeError):
                asked = entity["query"]
            query = f"{entity.get('description', '')}?{asked}"
        if entity.get("name", "").startswith("$"):
            action += f" {entity['name']}"
        elif "$" in entity.get("description", ""):
            action += " " + entity["description"].rsplit("/", 1)[-1]
    recorded = dt.datetime.fromisoformat(event["recorded"]).astimezone(STOCKHOLM)
    return ReportLine(
        time=recorded.strftime("%Y-%m-%d %H:%M:%S"),
        who=_who(user),
        subject=str(user.get("altId", "")),
        client=client,
        action=action,
        purpose="; ".join(purposes),
        outcome=str(event.get("outcomeDesc", event.get("outcome", ""))),
        resources=resources,
        query=query,
        event=f"AuditEvent/{event['id']}",
    )


async def report_lines(
    repo: Repository, *, patient: str | None, identifier: str | None, start: str, end: str
) -> list[ReportLine]:
    """The accesses to one patient's data between `start` and `end`, oldest first.

    The patient is named by id or by identifier (`system|value`, e.g. a personnummer); dates
    without a time are whole days in Europe/Stockholm, as FHIR date search reads them here.
    """
    _check_date(start, "--from")
    _check_date(end, "--to")
    if patient is not None:
        ids = [patient.removeprefix("Patient/")]
    elif identifier is not None:
        ids = await _patient_ids(repo, identifier)
        if not ids:
            raise ValueError(f"no Patient has the identifier {identifier}")
    else:
        raise ValueError("name the patient with --patient or --identifier")
    pairs = [
        ("patient", ",".join(f"Patient/{i}" for i in ids)),
        ("date", f"ge{start}"),
        ("date", f"le{end}"),
        ("_sort", "date"),
        ("_count", str(PAGE_SIZE)),
    ]
    return [_line(event) for event in await _all_pages(repo, "AuditEvent", pairs)]


async def run_report(
    settings: Settings, *, patient: str | None, identifier: str | None, start: str, end: str
) -> list[ReportLine]:
    """`report_lines` against the configured store."""
    store = Store(create_engine(settings.resolved_database_url()))
    try:
        # Accesses journalled but not moved into the store yet.
        await drain(journal_folder(settings.data_dir), store, base_url=settings.base_url or "")
        async with store.reading() as repo:
            return await report_lines(
                repo, patient=patient, identifier=identifier, start=start, end=end
            )
    finally:
        await store.dispose()


_COLUMNS = ("time", "who", "client", "action", "purpose", "outcome", "resources")


def _cells(line: ReportLine) -> tuple[str, ...]:
    resources = ", ".join(line.resources)
    if line.query is not None:
        resources = line.query + (f" -> {resources}" if resources else "")
    who = (
        line.who if line.who == line.subject or not line.subject else f"{line.who} ({line.subject})"
    )
    return (line.time, who, line.client, line.action, line.purpose, line.outcome, resources)


def format_table(lines: list[ReportLine]) -> str:
    """Aligned plain-text columns, one access a line; the resources column is not cut."""
    rows = [tuple(c.upper() for c in _COLUMNS), *(_cells(line) for line in lines)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    text = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(t.rstrip() for t in text) + "\n"


def format_json(lines: list[ReportLine]) -> str:
    """The lines as a JSON array."""
    return (
        orjson.dumps([asdict(line) for line in lines], option=orjson.OPT_INDENT_2).decode() + "\n"
    )
