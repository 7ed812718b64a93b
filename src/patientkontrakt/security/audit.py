"""Audit (loggranskning): every access to patient data becomes an AuditEvent.

Patientdatalagen (2008:355, 4 kap. 3 §) requires that access to patient data is logged and
reviewed. Each request yields `AuditRecord`s; `audit_event` turns one into FHIR R4 JSON
(auditevent.html), listing the Patients whose compartment the reached resources are in so that
`AuditEvent?patient=Patient/x` finds every access to x's data. Writes store their records in the
write's own transaction (`write_audit`); reads go through a `GroupWriter`, which makes
concurrent callers' records durable in one go before each answer is sent: straight into the
store (`AuditWriter`), or into the append-only journal of `audit_journal.py` (the default),
moved into the store in batches afterwards. Each record's AuditEvent id is decided when the
record is made, so a record moved twice (a journal moved again after a crash) is stored once.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from patientkontrakt.search.indexer import index_rows
from patientkontrakt.search.parameters import patient_compartment, registry
from patientkontrakt.search.references import split_reference
from patientkontrakt.security.principal import Principal
from patientkontrakt.store.repository import NewResource, Repository, format_instant
from patientkontrakt.store.transactions import Store

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
CLIENT_ID_SYSTEM = "urn:ietf:params:oauth:client-id"
"""Identifier system of an OAuth client (`client_id`), for the client agent."""
SUBJECT_SYSTEM = "https://patientkontrakt.se/fhir/sid/token-subject"
"""Identifier system of a token's `sub`, for a caller with neither fhirUser nor patient."""
SCOPE_EXTENSION = "https://patientkontrakt.se/fhir/StructureDefinition/oauth-scope"
"""Extension on the user agent: the token's scopes, space-separated, as granted."""
OBSERVER = "patientkontrakt"

_SUBTYPES = {
    "read": "read",
    "vread": "vread",
    "create": "create",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "operation": "operation",
}
_FINER = frozenset(
    {
        "search-type",
        "search-system",
        "history-instance",
        "history-type",
        "history-system",
        "capabilities",
        "batch",
        "transaction",
    }
)
_ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
}
_PURPOSES = {"TREAT": "treatment", "ETREAT": "Emergency Treatment"}
_OUTCOME_TEXT = {"0": "Success", "4": "Minor failure", "8": "Serious failure"}
_WRITES = frozenset({"create", "update", "patch", "delete"})
_MAX_KEYS = 5000  # references per statement in patients_of: SQLite binds at most 32766 values


@dataclass(frozen=True)
class AuditRecord:
    """One access (or attempted access) by one caller, as it is logged.

    `interaction` is the Guard's interaction (`read`, `search`, `history`, ...) or a finer
    restful-interaction code (`search-type`, `history-instance`, ...); `references` the
    `Type/id` or `Type/id/_history/n` of every resource reached; `outcome` the HTTP status;
    `entry` the Bundle entry index when the access was one entry of a batch or transaction.
    """

    principal: Principal
    interaction: str
    resource_type: str | None
    references: tuple[str, ...] = ()
    query: str | None = None
    outcome: int = 200
    recorded: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    address: str | None = None
    operation: str | None = None
    entry: int | None = None
    patients: tuple[str, ...] = ()
    """Patient ids known to the caller (e.g. from a deleted resource's last content, whose
    index rows are gone); `write_audit` adds those it finds in the index."""
    request_id: str | None = None
    """The request's `X-Request-ID`, so an answer can be traced to its log records."""
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """The id of the AuditEvent this record becomes, fixed up front."""


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def subtype_code(record: AuditRecord) -> str:
    """The restful-interaction code of the record's interaction."""
    interaction = record.interaction
    if interaction in _FINER:
        return interaction
    if interaction == "search":
        return "search-type" if record.resource_type else "search-system"
    if interaction == "history":
        if not record.resource_type:
            return "history-system"
        # The Guard's Access does not say the level: one resource listed is read as instance.
        instances = {r.split("/_history/")[0] for r in record.references}
        return "history-instance" if len(instances) == 1 else "history-type"
    return _SUBTYPES.get(interaction, "operation")


def action_code(record: AuditRecord) -> str:
    """C, R, U, D or E: searches and operations execute (auditevent.html#2.4.4)."""
    return _ACTIONS.get(record.interaction.split("-")[0], "E")


def outcome_code(status: int) -> str:
    """0 success (below 400), 4 minor failure (4xx: the client's), 8 serious failure (5xx)."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _outcome_description(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def purpose_of_event(principal: Principal) -> list[dict[str, Any]]:
    """TREAT, or ETREAT (nödåtkomst) with the declared reason as text."""
    code = principal.purpose_of_use
    concept = _concept(ACT_REASON, code, _PURPOSES.get(code))
    if principal.emergency_reason:
        concept["text"] = principal.emergency_reason
    return [concept]


def caller_reference(principal: Principal) -> dict[str, Any]:
    """The caller as a Reference: fhirUser, else the patient in patient context, else the
    token's subject as an identifier."""
    if principal.fhir_user:
        return {"reference": principal.fhir_user}
    if principal.patient:
        return {"reference": f"Patient/{principal.patient}"}
    return {"identifier": {"system": SUBJECT_SYSTEM, "value": principal.subject}}


def client_reference(principal: Principal) -> dict[str, Any]:
    """The OAuth client as a logical Reference."""
    return {"identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id}}


def _agents(record: AuditRecord) -> list[dict[str, Any]]:
    principal = record.principal
    writes = record.interaction in _WRITES
    scopes = str(principal.scopes)
    user: dict[str, Any] = {"extension": [{"url": SCOPE_EXTENSION, "valueString": scopes}]}
    if not scopes:
        del user["extension"]
    user |= {
        "type": _concept(
            PARTICIPATION_TYPE,
            *(("AUT", "author (originator)") if writes else ("IRCP", "information recipient")),
        ),
        "who": caller_reference(principal),
        "altId": principal.subject,
        "requestor": True,
    }
    if record.address:
        user["network"] = {"address": record.address, "type": "2"}  # 2: IP address
    client = {
        "type": _concept(DICOM, "110150", "Application"),
        "who": client_reference(principal),
        "requestor": False,
    }
    return [user, client]


def _entities(record: AuditRecord, patients: Iterable[str]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    own = set()
    for patient in dict.fromkeys(p.removeprefix("Patient/") for p in patients):
        own.add(f"Patient/{patient}")
        entities.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    for reference in dict.fromkeys(record.references):
        if reference in own:
            continue
        entities.append(
            {
                "what": {"reference": reference},
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    request = _request_entity(record)
    if request is not None:
        entities.append(request)
    if record.request_id is not None:
        # As IHE's Basic Audit Log Patterns record a request id.
        entities.append(
            {
                "what": {"identifier": {"value": record.request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId", "X-Request-Id"),
            }
        )
    return entities


def _request_entity(record: AuditRecord) -> dict[str, Any] | None:
    """The request itself: a search's query (base64), an operation's name, a Bundle entry.

    An entity has a name or a query, never both (invariant sev-1): the searched type goes to
    `description` (with the operation's name).
    """
    if record.query is None and record.operation is None and record.entry is None:
        return None
    entity: dict[str, Any] = {"type": _coding(ENTITY_TYPE, "2", "System Object")}
    if record.query is not None:
        entity["role"] = _coding(OBJECT_ROLE, "24", "Query")
    if record.operation and not record.query:
        entity["name"] = record.operation
    described = "/".join(x for x in (record.resource_type, record.operation) if x)
    if described:
        entity["description"] = described  # e.g. `CarePlan`, `Patient/$patient-contract`
    if record.query:
        entity["query"] = base64.b64encode(record.query.encode()).decode("ascii")
    if record.entry is not None:
        entity["detail"] = [{"type": "Bundle.entry", "valueString": str(record.entry)}]
    return entity


def audit_event(record: AuditRecord, patients: Sequence[str]) -> dict[str, Any]:
    """The FHIR R4 AuditEvent of `record`; `patients` the ids of the Patients whose data it
    reached (see `patients_of`). Built as plain JSON, valid against the base model."""
    outcome = outcome_code(record.outcome)
    return {
        "resourceType": "AuditEvent",
        "type": _coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [_coding(RESTFUL_INTERACTION, subtype_code(record))],
        "action": action_code(record),
        "recorded": format_instant(record.recorded),
        "outcome": outcome,
        "outcomeDesc": _outcome_description(record.outcome),
        "purposeOfEvent": purpose_of_event(record.principal),
        "agent": _agents(record),
        "source": {
            "observer": {"display": OBSERVER},
            "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
        },
        "entity": _entities(record, patients),
    }


def compartment_patients(resource_type: str, body: dict[str, Any]) -> list[str]:
    """Ids of the Patients whose compartment `body` is in, from the body itself (no SQL):
    for a deletion, whose index rows are gone by the time it is audited."""
    if resource_type == "Patient":
        return [str(body["id"])] if body.get("id") else []
    found: dict[str, None] = {}
    for code in patient_compartment().get(resource_type, ()):
        parameter = registry().get(resource_type, code)
        if parameter is None:
            continue
        for value in parameter.extract(body):
            reference = value.get("reference") if isinstance(value, dict) else None
            key = _key(reference) if isinstance(reference, str) else None
            if key is not None and key[0] == "Patient":
                found[key[1]] = None
    return list(found)


def _key(reference: str) -> tuple[str, str] | None:
    resource_type, resource_id = split_reference(reference)
    return None if resource_type is None or resource_id is None else (resource_type, resource_id)


async def patients_of(
    repo: Repository, references: set[str], *, base_url: str = ""
) -> dict[str, list[str]]:
    """For each reference (`Type/id` or `Type/id/_history/n`), the ids of the Patients whose
    compartment the resource is in (compartmentdefinition-patient.html); a Patient is its own.

    One statement over `reference_index` for up to 5000 references (more are split), whatever
    their types. Index rows are those of the current version.
    """
    compartment = patient_compartment()
    found: dict[tuple[str, str], set[str]] = {}
    keys: list[tuple[str, str]] = []
    for reference in references:
        key = _key(reference)
        if key is None:
            continue
        if key[0] == "Patient":
            found.setdefault(key, set()).add(key[1])
        elif compartment.get(key[0]) and key not in found:
            found[key] = set()
            keys.append(key)
    for start in range(0, len(keys), _MAX_KEYS):
        chunk = keys[start : start + _MAX_KEYS]
        params = [(t, p) for t in sorted({k[0] for k in chunk}) for p in compartment[t]]
        for source_type, source_id, target in await repo.reference_targets(
            chunk, params, "Patient", base_url=base_url
        ):
            found[(source_type, source_id)].add(target)
    result: dict[str, list[str]] = {}
    for reference in references:
        key = _key(reference)
        result[reference] = sorted(found.get(key, ())) if key is not None else []
    return result


async def write_audit(
    repo: Repository, records: Sequence[AuditRecord], *, base_url: str = ""
) -> None:
    """Store one AuditEvent per record, with its index rows, in `repo`'s (write) transaction.

    A few statements for all records together: one to find the patients, one INSERT per table.
    The events are built correctly here, so they skip fhir.resources validation.
    """
    if not records:
        return
    reached = {r for record in records for r in record.references}
    owners = await patients_of(repo, reached, base_url=base_url)
    items = []
    for record in records:
        patients = dict.fromkeys(record.patients)
        patients.update(dict.fromkeys(p for r in record.references for p in owners.get(r, ())))
        body = audit_event(record, list(patients))
        resource_id = record.event_id
        items.append(
            NewResource(
                "AuditEvent", resource_id, body, index_rows("AuditEvent", resource_id, body)
            )
        )
    await repo.create_many(items)


@dataclass
class _Waiter:
    records: Sequence[AuditRecord]
    done: bool = False
    error: BaseException | None = None


class GroupWriter(ABC):
    """Group commit of audit records: concurrent `write` calls share one durable step.

    A caller queues its records and takes the lock; whoever holds it makes everything queued
    so far (its own records and those of the callers waiting behind it) durable at once
    (`_commit`), and the callers it wrote for find theirs done when they get the lock. So under
    load one commit (one fsync) serves many requests, and each caller still returns only once
    its records are durable. A failed commit fails every caller whose records it held.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._pending: list[_Waiter] = []

    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Return when `records` are durable; raise when their commit failed."""
        if not records:
            return
        waiter = _Waiter(records)
        self._pending.append(waiter)
        try:
            async with self._lock:
                if not waiter.done:
                    await self._flush()
        except asyncio.CancelledError:
            if not waiter.done and waiter in self._pending:
                self._pending.remove(waiter)  # nobody will wait for these any more
            raise
        if waiter.error is not None:
            raise waiter.error

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            await self._commit([r for w in batch for r in w.records])
        except asyncio.CancelledError:
            # The leader was cancelled: the others' records go back to the queue, first.
            self._pending[:0] = [w for w in batch if not w.done]
            raise
        except Exception as exc:
            for w in batch:
                w.done, w.error = True, exc
            return
        for w in batch:
            w.done = True

    @abstractmethod
    async def _commit(self, records: Sequence[AuditRecord]) -> None:
        """Make `records` durable."""


class AuditWriter(GroupWriter):
    """Group commit of audit records straight into the store: one write transaction for all
    concurrent callers' records (the journal's `JournalWriter` appends to a file instead)."""

    def __init__(self, store: Store, *, base_url: str = "") -> None:
        super().__init__()
        self._store = store
        self._base_url = base_url

    async def _commit(self, records: Sequence[AuditRecord]) -> None:
        """AuditEvents committed to the store."""
        async with self._store.writing() as repo:
            await write_audit(repo, records, base_url=self._base_url)
