"""`sync pull`: one patient's CarePlans, CareTeams and Appointments from another FHIR server.

The patient is found on the source by identifier (`POST Patient/_search`, so the personnummer
stays out of its access log); then `CarePlan?subject=`, `CareTeam?subject=` and
`Appointment?actor=` are read through all their pages, and every resource they reference is
fetched, transitively (Goals, Conditions, PractitionerRoles, Practitioners, Organizations,
Locations, ...): by type with `_id=a,b,c`, or one `GET` each where the source refuses that.
Not fetched: other patients, types this server does not keep, and what the source will not
show; references to those become absolute URLs on the source.

Everything is imported as one transaction through the store's own transaction processor, as the
system client `patientkontrakt-sync` (validated, the contract's rules checked, audited, with
Provenance naming the source): either all of it is stored or nothing is. Entries are keyed on
identifiers (`resources`); a source resource without one is given `<source base>/<Type>` with
the source's id as value, so that pulling again updates what the first pull stored.
A resource that carries this server's own made identifier (`<canonical base>/identifier/<Type>`,
from an earlier push) is written back to that id, so a round trip creates no copies.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.config import Settings
from patientkontrakt.fhir import transaction
from patientkontrakt.fhir.conformance import READ_ONLY_TYPES
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner, load_secret
from patientkontrakt.fhir.registry import SERVER_WRITTEN_TYPES, is_resource_type, is_valid_id
from patientkontrakt.outcomes import FhirError
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store
from patientkontrakt.sync.client import FhirClient, SyncError
from patientkontrakt.sync.push import own_identifier_system
from patientkontrakt.sync.records import sync_guard, sync_scope
from patientkontrakt.sync.resources import (
    Key,
    Keyed,
    key_resources,
    parse_reference,
    reference_nodes,
    rewrite_references,
)
from patientkontrakt.sync.summary import Totals, count_outcomes

PATIENT_SEARCHES = (
    ("CarePlan", "subject"),
    ("CareTeam", "subject"),
    ("Appointment", "actor"),
)
"""What is pulled for a patient: (type, parameter naming the Patient)."""
NOT_FOLLOWED = frozenset({"Patient", "Provenance"}) | SERVER_WRITTEN_TYPES | READ_ONLY_TYPES
"""Referenced types never fetched (other patients; records and conformance resources)."""
ID_BATCH = 50
"""Ids per `_id=a,b,c` search."""
PULL_SCOPE = "system/*.cruds"
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")


class ImportRefusedError(Exception):
    """This server refused the import; nothing was written."""


@dataclass
class Record:
    """What was fetched from the source: the Patient first, then the rest, by (type, id)."""

    source: str
    patient_id: str
    resources: dict[Key, dict[str, Any]] = field(default_factory=dict)
    unavailable: set[Key] = field(default_factory=set)
    """Referenced resources that were not fetched (not followed, or not found)."""


def source_target(reference: str, source: str) -> Key | None:
    """(Type, id) of a reference to a resource on the source, relative or absolute."""
    parsed = parse_reference(reference)
    if parsed is None or (parsed.base is not None and parsed.base.rstrip("/") != source):
        return None
    return parsed.key


async def fetch(
    client: FhirClient,
    system: str,
    value: str,
    *,
    page_size: int,
    limit: int,
    progress: Callable[[str], None],
) -> Record:
    """The patient with identifier `system|value` and his plans, teams and times, with what
    they reference."""
    count = str(page_size)
    patients = await client.search_all(
        "Patient", {"identifier": f"{system}|{value}", "_count": count}, post=True
    )
    if len(patients) != 1:
        how = "no" if not patients else f"{len(patients)}"
        raise SyncError(f"{client.base_url} has {how} Patient with identifier {system}|{value}")
    patient = patients[0]
    record = Record(client.base_url, str(patient["id"]))
    record.resources[("Patient", record.patient_id)] = patient
    progress(f"pull from {client.base_url}: Patient/{record.patient_id}")
    for resource_type, parameter in PATIENT_SEARCHES:
        found = await client.search_all(
            resource_type, {parameter: f"Patient/{record.patient_id}", "_count": count}
        )
        for resource in found:
            record.resources[(resource_type, str(resource["id"]))] = resource
        progress(f"  {resource_type}: {len(found)}")
    await _follow_references(client, record, page_size=page_size, limit=limit, progress=progress)
    return record


async def _follow_references(
    client: FhirClient,
    record: Record,
    *,
    page_size: int,
    limit: int,
    progress: Callable[[str], None],
) -> None:
    """Fetch every referenced resource not yet fetched, until none is left."""
    while True:
        wanted: dict[str, list[str]] = defaultdict(list)
        for resource in list(record.resources.values()):
            for node in reference_nodes(resource):
                key = source_target(node["reference"], record.source)
                if key is None or key in record.resources or key in record.unavailable:
                    continue
                if key[0] in NOT_FOLLOWED or not is_resource_type(key[0]):
                    record.unavailable.add(key)
                elif key[1] not in wanted[key[0]]:
                    wanted[key[0]].append(key[1])
        if not wanted:
            return
        for resource_type, ids in sorted(wanted.items()):
            got = await _fetch_ids(client, resource_type, ids, page_size=page_size)
            for resource_id in ids:
                if resource_id in got:
                    record.resources[(resource_type, resource_id)] = got[resource_id]
                else:
                    record.unavailable.add((resource_type, resource_id))
            progress(f"  {resource_type}: {len(got)} referenced")
        if len(record.resources) > limit:
            raise SyncError(f"more than {limit} resources to import for one patient")


async def _fetch_ids(
    client: FhirClient, resource_type: str, ids: list[str], *, page_size: int
) -> dict[str, dict[str, Any]]:
    """The resources of `resource_type` with these ids that the source shows us."""
    got: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), ID_BATCH):
        chunk = ids[start : start + ID_BATCH]
        try:
            found = await client.search_all(
                resource_type, {"_id": ",".join(chunk), "_count": str(max(page_size, len(chunk)))}
            )
        except SyncError:
            # A server that does not search by `_id` lists: one read each.
            found = [r for i in chunk if (r := await client.read(resource_type, i)) is not None]
        got.update((str(r["id"]), r) for r in found if r.get("id") in chunk)
    return got


def import_bundle(record: Record, canonical_base: str) -> tuple[dict[str, Any], list[Keyed]]:
    """The transaction that stores `record` here, and its entries' resources in order."""
    source = record.source
    keyed = key_resources(list(record.resources.values()), lambda t: f"{source}/{t}")
    for k in keyed:
        ours = own_identifier_system(canonical_base, k.resource_type)
        if k.system == ours and is_valid_id(k.value):
            k.local_id = k.value
            k.body["identifier"] = [
                i for i in k.body.get("identifier", []) if i.get("system") != ours
            ]
            if not k.body["identifier"]:
                del k.body["identifier"]
    urls = {k.key: k.full_url for k in keyed}

    def rewrite(reference: str) -> str | None:
        key = source_target(reference, source)
        if key is None:
            return None
        return urls.get(key) or f"{source}/{key[0]}/{key[1]}"

    for k in keyed:
        rewrite_references(k.body, rewrite)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [k.entry() for k in keyed]}
    return bundle, keyed


async def store_record(
    settings: Settings, record: Record, totals: Totals, *, store: Store | None = None
) -> None:
    """Import `record` in one transaction, audited; ImportRefusedError (nothing written) when this
    server refuses any of it, naming the source resource."""
    own = store is None
    store = store or Store(create_engine(settings.resolved_database_url()))
    guard = sync_guard(settings, store, scope=PULL_SCOPE, source=record.source)
    bundle, keyed = import_bundle(record, settings.canonical_base)
    paging = Paging(
        base=settings.base_url or "",
        signer=PageSigner(load_secret(settings.paging_secret, settings.data_dir), 60),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )
    status = 200
    try:
        answer = await transaction.process(
            store,
            sync_scope(settings, guard),
            bundle,
            paging=paging,
            prefer="minimal",
            max_entries=settings.max_bundle_entries,
        )
        count_outcomes(bundle, keyed, answer, totals)
        totals.patients += 1
    except FhirError as exc:
        status = exc.status
        raise ImportRefusedError(_refusal(exc, keyed, record.source)) from exc
    finally:
        try:
            await guard.finish(status)
        finally:
            if own:
                await store.dispose()


def _refusal(exc: FhirError, keyed: list[Keyed], source: str) -> str:
    """The store's refusal, naming the source resource of the entry it refused."""
    parts = []
    for issue in exc.issues:
        text = issue.diagnostics or issue.code
        match = _ENTRY.search(text)
        if match is not None and int(match[1]) < len(keyed):
            k = keyed[int(match[1])]
            text = f"{source}/{k.resource_type}/{k.source_id}: " + _ENTRY.sub("", text, 1).lstrip(
                ": "
            )
        parts.append(text)
    return f"{exc.status}: " + " | ".join(parts) + " (nothing was imported)"


async def pull(
    settings: Settings,
    client: FhirClient,
    *,
    system: str,
    value: str,
    page_size: int,
    progress: Callable[[str], None],
) -> Totals:
    """Fetch the patient's record from `client`'s server and import it here."""
    record = await fetch(
        client,
        system,
        value,
        page_size=page_size,
        limit=settings.max_bundle_entries,
        progress=progress,
    )
    progress(
        f"importing {len(record.resources)} resources"
        + (
            f" ({len(record.unavailable)} references left to the source)"
            if record.unavailable
            else ""
        )
    )
    totals = Totals()
    await store_record(settings, record, totals)
    return totals
