"""`sync push`: each patient's contract to another FHIR server, one transaction per patient.

A patient's Bundle holds the Patient, his CarePlans, CareTeams and Goals (`subject`), his
Appointments (`actor`), and everything those reference that the store holds, followed
transitively: Conditions, ServiceRequests, Practitioners, PractitionerRoles, Organizations,
Locations, ... Other patients are never sent, nor AuditEvents and Provenance. Every entry is a
conditional create or update keyed on an identifier (`resources`), and references between
entries are `urn:uuid:` fullUrls, so the other server resolves them to whatever ids it has or
gives. Pushing again finds every resource by its identifier and creates nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from patientkontrakt.config import Settings
from patientkontrakt.fhir.guard import Access
from patientkontrakt.search.engine import matching_ids
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.transactions import Store
from patientkontrakt.sync.client import FhirClient, SyncError
from patientkontrakt.sync.records import sync_guard
from patientkontrakt.sync.resources import (
    LINKED_TYPES,
    Key,
    Keyed,
    identifier_criteria,
    key_resources,
    parse_reference,
    reference_nodes,
    rewrite_references,
)
from patientkontrakt.sync.summary import OUTCOMES, Totals, count_outcomes

PATIENT_SEARCHES = (
    ("CarePlan", "subject"),
    ("CareTeam", "subject"),
    ("Goal", "subject"),
    ("Appointment", "actor"),
)
"""The searches that find a patient's contract: (type, parameter naming the Patient)."""
NEVER_SENT = frozenset({"AuditEvent", "Provenance"})
PUSH_SCOPE = "system/*.rs"


def own_identifier_system(canonical_base: str, resource_type: str) -> str:
    """The system of the identifier a resource without one is given on push:
    `<canonical base>/identifier/<Type>` (its value is our logical id)."""
    return f"{canonical_base.rstrip('/')}/identifier/{resource_type}"


async def select_patients(repo: Repository, identifiers: list[tuple[str, str]] | None) -> list[str]:
    """Ids of the Patients with these identifiers (each must match one), or of every Patient."""
    if not identifiers:
        ids: list[str] = []
        after: tuple[str, str] | None = None
        while batch := await repo.current_batch(after=after, limit=500, resource_type="Patient"):
            ids.extend(p.resource_id for p in batch)
            after = ("Patient", batch[-1].resource_id)
        return ids
    found = []
    for system, value in identifiers:
        matches = await matching_ids(repo, "Patient", identifier_criteria(system, value), limit=2)
        if len(matches) != 1:
            how = "no" if not matches else "more than one"
            raise ValueError(f"{how} Patient has the identifier {system}|{value}")
        found.append(matches[0])
    return list(dict.fromkeys(found))


async def gather(repo: Repository, patient_id: str, *, limit: int) -> list[dict[str, Any]]:
    """The patient's contract and everything it references, as stored (current versions).

    A reference to what the store does not hold (or holds deleted) is sent as it is.
    """
    found: dict[Key, dict[str, Any]] = {}
    wanted: list[Key] = [("Patient", patient_id)]
    for resource_type, parameter in PATIENT_SEARCHES:
        ids = await matching_ids(
            repo, resource_type, f"{parameter}=Patient/{patient_id}", limit=limit + 1
        )
        wanted.extend((resource_type, i) for i in ids)
    asked: set[Key] = set()
    while wanted:
        asked.update(wanted)
        added = []
        for key, version in (await repo.current_many(wanted)).items():
            if not version.deleted and version.content is not None:
                found[key] = orjson.loads(version.content)
                added.append(found[key])
        if len(found) > limit:
            raise ValueError(f"Patient/{patient_id}: more than {limit} resources to send")
        targets = (local_target(node["reference"]) for r in added for node in reference_nodes(r))
        wanted = list(
            dict.fromkeys(
                t
                for t in targets
                if t is not None
                and t not in asked
                and t[0] != "Patient"  # other patients are never sent
                and t[0] not in NEVER_SENT
            )
        )
    return list(found.values())


def local_target(reference: str) -> Key | None:
    """(Type, id) of a relative reference (`Type/id`), else None."""
    parsed = parse_reference(reference)
    return parsed.key if parsed is not None and parsed.base is None else None


def push_bundle(
    resources: list[dict[str, Any]], canonical_base: str
) -> tuple[dict[str, Any], list[Keyed]]:
    """The transaction Bundle of one patient's resources, and its entries' resources in order.

    Relative references to resources in the Bundle become their `urn:uuid:` fullUrls.
    """
    order = {"Patient": 0, **{t: 1 for t in LINKED_TYPES}}
    resources = sorted(resources, key=lambda r: order.get(str(r["resourceType"]), 2))
    keyed = key_resources(resources, lambda t: own_identifier_system(canonical_base, t))
    urls = {k.key: k.full_url for k in keyed}

    def rewrite(reference: str) -> str | None:
        target = local_target(reference)
        return urls.get(target) if target is not None else None

    for k in keyed:
        rewrite_references(k.body, rewrite)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [k.entry() for k in keyed]}
    return bundle, keyed


async def push(
    settings: Settings,
    client: FhirClient,
    *,
    identifiers: list[tuple[str, str]] | None,
    progress: Callable[[str], None],
) -> Totals:
    """Push the patients with `identifiers` (all when None) to `client`'s server."""
    store = Store(create_engine(settings.resolved_database_url()))
    guard = sync_guard(settings, store, scope=PUSH_SCOPE)
    totals = Totals()
    limit = settings.max_bundle_entries
    try:
        async with store.reading() as repo:
            patient_ids = await select_patients(repo, identifiers)
        progress(f"push to {client.base_url}: {len(patient_ids)} patient(s)")
        for number, patient_id in enumerate(patient_ids, start=1):
            async with store.reading() as repo:
                resources = await gather(repo, patient_id, limit=limit)
            bundle, keyed = push_bundle(resources, settings.canonical_base)
            sent = Access(
                "operation",
                "Patient",
                tuple(f"{k.resource_type}/{k.source_id}" for k in keyed),
                query=f"sync-push to {client.base_url}",
                patients=(patient_id,),
            )
            try:
                answer = await client.transaction(bundle)
            except SyncError as exc:
                guard.accessed(dataclasses.replace(sent, outcome=502))
                raise SyncError(f"Patient/{patient_id}: {exc}") from exc
            guard.accessed(sent)
            these = count_outcomes(bundle, keyed, answer, totals)
            totals.patients += 1
            progress(
                f"[{number}/{len(patient_ids)}] Patient/{patient_id}: {len(keyed)} resources, "
                + ", ".join(f"{these[o]} {o}" for o in OUTCOMES)
            )
    finally:
        try:
            await guard.finish(200)
        finally:
            await store.dispose()
    return totals
