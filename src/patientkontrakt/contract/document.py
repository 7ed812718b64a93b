"""`$patient-contract`: one patient's whole contract as a FHIR document Bundle (documents.html).

Gathering is a fixed set of searches in the patient's compartment through the search engine,
each with the caller's visibility, so the cost does not grow with the number of patients and
access control applies to every resource found (and to every `_include`). The Bundle is a
Composition with the Swedish sections (`sections.py`), then every resource it refers to once,
embedded as the stored bytes.

The Composition's author is the server itself, as a Device in the Bundle: the document is
compiled automatically from what several care providers recorded, and naming one of them as
author would credit it with the others' content. The organisations responsible for each part
are named in the sections.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from patientkontrakt import __version__
from patientkontrakt.contract import narrative, plan_sections, sections
from patientkontrakt.contract.pool import Pool
from patientkontrakt.contract.sections import Contract, Section, approved
from patientkontrakt.contract.vocabulary import CATEGORY_PATIENTKONTRAKT, Canonicals
from patientkontrakt.fhir.bundles import bundle
from patientkontrakt.fhir.guard import Access, RequestScope
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.outcomes import FhirError, Issue, bad_request, not_found, precondition_failed
from patientkontrakt.search.engine import matching_ids, search_bundle
from patientkontrakt.store.repository import Repository, StoredVersion, format_instant
from patientkontrakt.store.tables import RowFilter

OPERATION = "$patient-contract"

CONTRACT_TYPES = (
    "Patient",
    "CarePlan",
    "CareTeam",
    "Appointment",
    "Goal",
    "PractitionerRole",
    "Practitioner",
    "Organization",
    "RelatedPerson",
    "ServiceRequest",
    "Task",
    "MedicationRequest",
)
"""Every type the document can hold; the caller must be allowed to read each."""

MAX_PLANS = 20
MAX_TEAMS = 20
MAX_UPCOMING = 100
MAX_PAST = 20
"""Past agreed times shown, most recent first: a contract, not an archive."""
MAX_PROPOSALS = 50
MAX_GOALS = 100

PLAN_OF_CARE = {"system": "http://loinc.org", "code": "18776-5", "display": "Plan of care note"}
"""Composition.type: LOINC's plan of care note, as the IPS uses for its plan-of-care section."""
EMPTY_REASON = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
            "code": "nilknown",
            "display": "Nil Known",
        }
    ]
}
PARTY_TYPES = ("PractitionerRole", "Practitioner", "Organization", "CareTeam", "RelatedPerson")
"""Who the document names: what the gathered resources refer to of these types is fetched too."""
COMPLETION_ROUNDS = 2
"""PractitionerRoles found in the first round name their Practitioner and Organization."""


@dataclass(frozen=True)
class Document:
    """The document Bundle and `Type/id` of every stored resource it holds."""

    bundle: dict[str, Any]
    references: tuple[str, ...]


# --- finding the patient --------------------------------------------------------------------------


async def find_patient(
    repo: Repository,
    scope: RequestScope,
    *,
    patient_id: str | None = None,
    identifier: str | None = None,
    base: str = "",
) -> StoredVersion:
    """The Patient by id, or by `identifier=system|value`.

    404 when none matches (or the caller may not see it), 410 when deleted, 400 without an
    identifier, 412 when the identifier matches several patients (as a conditional interaction
    whose criteria are not selective enough, http.html#cond-update).
    """
    if patient_id is None:
        if not identifier or not identifier.strip("|"):
            raise bad_request(
                "Name the patient: Patient/{id}/$patient-contract or "
                "Patient/$patient-contract?identifier=system|value",
                "identifier",
            )
        ids = await matching_ids(
            repo,
            "Patient",
            urlencode({"identifier": identifier}),
            limit=2,
            base_url=base,
            visible=scope.guard.visible(),
        )
        if len(ids) > 1:
            raise precondition_failed(f"The identifier {identifier} matches more than one Patient")
        if not ids:
            # The log review must find the attempt under the patient it named, seen or not.
            named = await matching_ids(
                repo, "Patient", urlencode({"identifier": identifier}), limit=2, base_url=base
            )
            scope.guard.accessed(
                Access(
                    "operation",
                    "Patient",
                    query="$patient-contract",
                    outcome=404,
                    patients=tuple(named),
                )
            )
            raise not_found(f"No Patient has the identifier {identifier}")
        patient_id = ids[0]
    stored = await repo.current("Patient", patient_id)
    if stored is None:
        raise not_found(f"Patient/{patient_id} is not known")
    await scope.guard.check_read(repo, stored)
    if stored.deleted:
        raise FhirError(410, [Issue("deleted", f"Patient/{patient_id} was deleted")])
    return stored


async def patient_contract(
    repo: Repository,
    scope: RequestScope,
    *,
    paging: Paging,
    canonicals: Canonicals,
    patient_id: str | None = None,
    identifier: str | None = None,
    now: dt.datetime | None = None,
) -> Document:
    """The contract document of one patient, under the caller's scope; the access is noted.

    Patient-facing use (a patient context) shows only plans approved for the patient.
    """
    for resource_type in CONTRACT_TYPES:
        scope.guard.require(resource_type, "read")
    stored = await find_patient(
        repo, scope, patient_id=patient_id, identifier=identifier, base=paging.base
    )
    document = await contract_document(
        repo,
        stored,
        paging=paging,
        canonicals=canonicals,
        patient_facing=scope.guard.patient_context() is not None,
        visible=scope.guard.visible(),
        now=now,
    )
    scope.guard.accessed(Access("operation", "Patient", document.references, query=OPERATION))
    return document


# --- gathering ------------------------------------------------------------------------------------


async def contract_document(
    repo: Repository,
    patient: StoredVersion,
    *,
    paging: Paging,
    canonicals: Canonicals,
    patient_facing: bool,
    visible: RowFilter | None = None,
    now: dt.datetime | None = None,
) -> Document:
    """Gather the patient's contract and assemble the document Bundle."""
    moment = now or dt.datetime.now(dt.UTC)
    contract = await gather(
        repo,
        patient,
        paging=paging,
        canonicals=canonicals,
        patient_facing=patient_facing,
        visible=visible,
        now=moment,
    )
    return compose(contract, base=paging.base)


async def gather(
    repo: Repository,
    patient: StoredVersion,
    *,
    paging: Paging,
    canonicals: Canonicals,
    patient_facing: bool,
    visible: RowFilter | None,
    now: dt.datetime,
) -> Contract:
    """Six searches in the patient's compartment, then the people and organisations named."""
    assert patient.content is not None
    pool = Pool(paging.base)
    key = patient.reference
    pool.add(key, orjson.loads(patient.content), patient.content)

    async def search(resource_type: str, pairs: list[tuple[str, str]]) -> tuple[list[Any], bool]:
        found = await search_bundle(
            repo,
            (resource_type,),
            resource_type,
            [("patient", key), *pairs],
            paging,
            handling="strict",
            visible=visible,
        )
        more = any(link.get("relation") == "next" for link in found.get("link", []))
        return pool.add_searchset(found), more

    plan_filter = [("approved-for-patient", "true")] if patient_facing else []
    plans, _ = await search(
        "CarePlan",
        [
            ("category", f"{canonicals.contract_category}|{CATEGORY_PATIENTKONTRAKT}"),
            ("status", "active,on-hold"),
            *plan_filter,
            ("_count", str(MAX_PLANS)),
            ("_include", "CarePlan:goal"),
            ("_include", "CarePlan:care-team"),
            ("_include", "CarePlan:performer"),
            ("_include", "CarePlan:activity-reference"),
        ],
    )
    if patient_facing:
        # The search asked for approved plans only; this keeps it so whatever the index says.
        for plan in [p for p in plans if not approved(p, canonicals)]:
            pool.drop(f"CarePlan/{plan['id']}")
        plans = [p for p in plans if approved(p, canonicals)]
    # The plan agreed with the patient first, then by when each took effect.
    plans.sort(
        key=lambda p: (
            not approved(p, canonicals),
            narrative.sort_key((p.get("period") or {}).get("start")) or now,
            str(p.get("title", "")),
        )
    )
    teams, _ = await search(
        "CareTeam",
        [
            ("status", "active"),
            ("_count", str(MAX_TEAMS)),
            ("_include", "CareTeam:participant"),
        ],
    )
    instant = format_instant(now)
    actors = [("_include", "Appointment:actor")]
    upcoming, _ = await search(
        "Appointment",
        [
            ("status", "booked"),
            ("date", f"ge{instant}"),
            ("_sort", "date"),
            ("_count", str(MAX_UPCOMING)),
            *actors,
        ],
    )
    past, more_past = await search(
        "Appointment",
        [
            ("status", "booked,arrived,checked-in,fulfilled"),
            ("date", f"lt{instant}"),
            ("_sort", "-date"),
            ("_count", str(MAX_PAST)),
            *actors,
        ],
    )
    proposals, _ = await search(
        "Appointment",
        [("status", "proposed,pending"), ("_count", str(MAX_PROPOSALS)), *actors],
    )
    goals, _ = await search(
        "Goal",
        [
            ("lifecycle-status", "proposed,planned,accepted,active,on-hold"),
            ("_count", str(MAX_GOALS)),
        ],
    )
    await _complete(repo, pool, paging=paging, visible=visible)
    return Contract(
        patient_key=key,
        patient=pool.get(key) or {},
        plans=plans,
        teams=teams,
        upcoming=upcoming,
        past=past,
        proposals=proposals,
        goals=goals,
        pool=pool,
        canonicals=canonicals,
        patient_facing=patient_facing,
        now=now,
        past_truncated=more_past,
    )


async def _complete(
    repo: Repository, pool: Pool, *, paging: Paging, visible: RowFilter | None
) -> None:
    """Fetch the people and organisations the gathered resources name but the searches did not
    include: a practitioner role's Practitioner and Organization, a ServiceRequest's performer,
    a care team's managing organisation, a plan's author. One statement per round, by id.

    Not `_include:iterate`: an iterate round's statement scans the whole resource table on
    PostgreSQL (an OR of two row-value IN subqueries defeats the primary key), while `_id`
    across the named types is a primary-key lookup.
    """
    for _ in range(COMPLETION_ROUNDS):
        missing = sorted(
            {
                target
                for key in pool
                for target in pool.references_of(key)
                if target not in pool and target.partition("/")[0] in PARTY_TYPES
            }
        )
        if not missing:
            return
        types = tuple(sorted({k.partition("/")[0] for k in missing}))
        ids = sorted({k.partition("/")[2] for k in missing})
        found = await search_bundle(
            repo,
            types,
            "",
            [("_id", ",".join(ids)), ("_count", str(len(ids) * len(types)))],
            paging,
            handling="strict",
            visible=visible,
        )
        pool.add_searchset(found, only=set(missing))


# --- the Bundle -----------------------------------------------------------------------------------


def compose(contract: Contract, *, base: str) -> Document:
    """The document Bundle: the Composition first, then every resource it refers to once."""
    moment = format_instant(contract.now)
    parts = all_sections(contract)
    composition_id = str(uuid.uuid4())
    device = _device(base)
    composition = {
        "resourceType": "Composition",
        "id": composition_id,
        "language": "sv",
        "status": "final",
        "type": {"coding": [PLAN_OF_CARE], "text": "Patientkontrakt"},
        "subject": {
            "reference": f"{contract.pool.base}/{contract.patient_key}",
            "display": contract.patient_name,
        },
        "date": moment,
        "author": [{"reference": f"urn:uuid:{device['id']}", "display": "patientkontrakt"}],
        "title": f"Patientkontrakt för {contract.patient_name}",
        "section": [_section(s, contract.canonicals, contract.pool.base) for s in parts],
    }
    keys = _closure(contract, [contract.patient_key, *_section_keys(parts)])
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:{composition_id}", "resource": composition},
        {"fullUrl": f"{contract.pool.base}/{contract.patient_key}", "resource": None},
        {"fullUrl": f"urn:uuid:{device['id']}", "resource": device},
    ]
    entries[1]["resource"] = contract.pool.stored(contract.patient_key)
    for key in keys:
        if key != contract.patient_key:
            entries.append(
                {"fullUrl": f"{contract.pool.base}/{key}", "resource": contract.pool.stored(key)}
            )
    shell = bundle("document", entries, {})
    document = {
        "resourceType": "Bundle",
        "id": shell["id"],
        "meta": shell["meta"],
        "language": "sv",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": moment,
        "entry": entries,
    }
    return Document(document, tuple(keys))


def all_sections(contract: Contract) -> list[Section]:
    """The document's sections, in order."""
    found = plan_sections.activities(contract)
    people = sections.contacts(contract)
    return [
        sections.agreement(contract),
        sections.fixed_contacts(contract, people),
        sections.agreed_times(contract),
        plan_sections.planned_by_responsible(contract, found),
        plan_sections.self_care(contract, found),
        plan_sections.goals(contract),
        plan_sections.next_step(contract, found, people),
    ]


def _device(base: str) -> dict[str, Any]:
    """The server as the document's author; one stable id per server base URL."""
    return {
        "resourceType": "Device",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/Device/patientkontrakt")),
        "status": "active",
        "deviceName": [{"name": "patientkontrakt", "type": "user-friendly-name"}],
        "type": {"text": "Tjänst som sammanställer patientkontraktet"},
        "version": [{"value": __version__}],
    }


def _section(section: Section, canonicals: Canonicals, base: str) -> dict[str, Any]:
    # The Composition's own fullUrl is a urn:uuid, against which a relative reference resolves
    # to nothing (bundle.html#references): its references are the entries' absolute fullUrls.
    out: dict[str, Any] = {
        "title": section.title,
        "code": {
            "coding": [
                {
                    "system": canonicals.contract_section,
                    "code": section.code,
                    "display": section.title,
                }
            ]
        },
        "text": narrative.narrative(*section.blocks),
    }
    if section.entries:
        out["entry"] = [{"reference": f"{base}/{key}"} for key in section.entries]
    else:
        out["emptyReason"] = EMPTY_REASON
    if section.sections:
        out["section"] = [_section(s, canonicals, base) for s in section.sections]
    return out


def _section_keys(sections: list[Section]) -> list[str]:
    keys: list[str] = []
    for section in sections:
        keys += section.entries
        keys += _section_keys(section.sections)
    return keys


def _closure(contract: Contract, start: list[str]) -> list[str]:
    """`start` and every gathered resource they refer to, directly or not, in order, once."""
    pool = contract.pool
    seen: dict[str, None] = {}
    queue = deque(k for k in start if k in pool)
    while queue:
        key = queue.popleft()
        if key in seen or key.partition("/")[0] not in CONTRACT_TYPES:
            continue
        seen[key] = None
        queue.extend(k for k in pool.references_of(key) if k in pool and k not in seen)
    return list(seen)
