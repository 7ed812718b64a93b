"""The product's conformance resources, published read-only through the ordinary store.

At start-up `seed` writes each StructureDefinition, CodeSystem, ValueSet and SearchParameter of
`fhir_profiles/` (rebased to `PK_CANONICAL_BASE`, the same copies validation uses) as a resource
with its own id and index rows, so read, search, `_include` and history work on them like on
any other resource. Clients may not write these types (`READ_ONLY_TYPES`).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import orjson

from patientkontrakt.fhir.interactions import prepare_new
from patientkontrakt.outcomes import FhirError
from patientkontrakt.search.indexer import index_rows
from patientkontrakt.store.repository import NewResource, Repository, StoredVersion
from patientkontrakt.store.transactions import Store
from patientkontrakt.validation.base import validate_resource
from patientkontrakt.validation.definitions import FOLDERS, definitions

log = logging.getLogger(__name__)

READ_ONLY_TYPES = frozenset(FOLDERS)
"""Types the server publishes from `fhir_profiles/` and clients may only read and search."""

SEED_LOCK = "conformance-seed"
"""Key of the lock that queues workers starting at the same time (`Repository.serialize`)."""


async def seed(store: Store, canonical_base: str) -> int:
    """Store every conformance resource that is missing or differs; how many were written.

    One write transaction under one lock: replicas starting together write each resource once,
    and a restart with unchanged files writes nothing.
    """
    async with store.writing() as repo:
        await repo.serialize(SEED_LOCK)
        new: list[NewResource] = []
        written = 0
        for resource in definitions(canonical_base).resources:
            resource_type, resource_id = resource["resourceType"], resource.get("id")
            if not isinstance(resource_id, str):
                log.error("conformance resource %s has no id; not published", resource.get("url"))
                continue
            current = await repo.current(resource_type, resource_id, for_update=True)
            if current is not None and same_content(current, resource):
                continue
            body = copy.deepcopy(resource)
            try:
                if current is None:
                    new.append(prepare_new(resource_type, resource_id, body))
                    continue
                validate_resource(resource_type, body)
            except FhirError as exc:
                log.error("%s/%s is not valid; not published: %s", resource_type, resource_id, exc)
                continue
            await _replace(repo, current, body)
            written += 1
        await repo.create_many(new)
    return written + len(new)


async def _replace(repo: Repository, current: StoredVersion, body: dict[str, Any]) -> None:
    rows = index_rows(current.resource_type, current.resource_id, body)
    await repo.write(
        current.resource_type,
        current.resource_id,
        body,
        previous=current,
        method="PUT",
        index=rows,
    )


def same_content(stored: StoredVersion, resource: dict[str, Any]) -> bool:
    """True when the stored version is `resource` apart from the server's meta fields."""
    if stored.deleted or stored.content is None:
        return False
    return _comparable(orjson.loads(stored.content)) == _comparable(resource)


def _comparable(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if meta:
            out["meta"] = meta
        else:
            out.pop("meta")
    return out
