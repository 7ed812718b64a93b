"""Bulk loading of Bundles and NDJSON files through the ordinary write path.

Every resource is validated and indexed like any other write; resources go in chunks, one
database transaction per chunk, so a failing file leaves no half-written chunk behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson
from rich.progress import Progress

from patientkontrakt.config import Settings
from patientkontrakt.fhir import interactions, transaction
from patientkontrakt.fhir.guard import UNRESTRICTED
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner, load_secret
from patientkontrakt.fhir.registry import require_id, require_type
from patientkontrakt.outcomes import FhirError
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store


def _resources_of(path: Path, text: bytes) -> Iterator[dict[str, Any]]:
    if path.suffix == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _object(orjson.loads(line), f"{path}:{number}")
        return
    document = _object(orjson.loads(text), str(path))
    if document.get("resourceType") != "Bundle":
        yield document
        return
    for entry in document.get("entry", []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield entry["resource"]


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise ValueError(f"{where}: not a FHIR resource")
    return value


async def load_files(settings: Settings, files: list[Path], *, batch_size: int) -> int:
    """Load every resource of `files`; returns how many were stored."""
    store = Store(create_engine(settings.resolved_database_url()))
    stored = 0
    try:
        with Progress() as progress:
            for path in files:
                task = progress.add_task(path.name, total=None)
                stored += await _load_file(store, settings, path, batch_size, progress, task)
                progress.update(task, completed=progress.tasks[task].completed, total=1)
        await store.refresh_statistics()
    finally:
        await store.dispose()
    return stored


async def _load_file(
    store: Store, settings: Settings, path: Path, batch_size: int, progress: Progress, task: Any
) -> int:
    text = await anyio.Path(path).read_bytes()
    try:
        head = orjson.loads(text) if path.suffix != ".ndjson" else None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    if isinstance(head, dict) and head.get("type") in ("transaction", "batch"):
        paging = Paging(
            base=settings.base_url or "",
            signer=PageSigner(load_secret(settings.paging_secret, settings.data_dir), 60),
            default_count=settings.default_page_size,
            max_count=settings.max_page_size,
        )
        try:
            result = await transaction.process(
                store,
                UNRESTRICTED,
                head,
                paging=paging,
                prefer="minimal",
                max_entries=settings.max_bundle_entries,
            )
        except FhirError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        # A batch answers a failed entry in its response instead of raising: report it.
        failed = [
            f"Bundle.entry[{i}]: {e['response']['status']} "
            + "; ".join(str(o.get("diagnostics")) for o in e["response"]["outcome"]["issue"])
            for i, e in enumerate(result.get("entry", []))
            if "outcome" in e["response"] and not e["response"]["status"].startswith("2")
        ]
        if failed:
            raise ValueError(f"{path}: " + " | ".join(failed))
        count = len(result.get("entry", []))
        progress.advance(task, count)
        return count
    chunk: list[dict[str, Any]] = []
    count = 0
    for resource in _resources_of(path, text):
        chunk.append(resource)
        if len(chunk) >= batch_size:
            count += await _write_chunk(store, chunk, path)
            progress.advance(task, len(chunk))
            chunk = []
    if chunk:
        count += await _write_chunk(store, chunk, path)
        progress.advance(task, len(chunk))
    return count


async def _write_chunk(store: Store, chunk: list[dict[str, Any]], path: Path) -> int:
    try:
        await write_chunk(store, chunk)
    except FhirError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return len(chunk)


async def write_chunk(store: Store, chunk: list[dict[str, Any]]) -> int:
    """One transaction: new resources in bulk, known ids as ordinary updates.

    Every resource is validated and indexed like any write; one without an id gets a new id.
    Returns how many resources were new; raises FhirError, with nothing written, on a problem.
    """
    async with store.writing() as repo:
        keyed: list[tuple[str, str, dict[str, Any]]] = []
        for resource in chunk:
            resource_type = require_type(str(resource["resourceType"]))
            given = resource.get("id")
            resource_id = given if isinstance(given, str) else str(uuid.uuid4())
            keyed.append((resource_type, require_id(resource_id), resource))
        existing: set[tuple[str, str]] = set()
        for resource_type in {t for t, _, _ in keyed}:
            ids = [i for t, i, _ in keyed if t == resource_type]
            existing |= {(resource_type, i) for i in await repo.existing_ids(resource_type, ids)}
        new = []
        later = []
        for resource_type, resource_id, resource in keyed:
            key = (resource_type, resource_id)
            if key in existing:
                later.append((resource_type, resource_id, resource))
            else:
                existing.add(key)  # a second copy in this chunk is an update
                new.append(interactions.prepare_new(resource_type, resource_id, resource))
        await repo.create_many(new)
        for resource_type, resource_id, resource in later:
            resource["id"] = resource_id
            await interactions.update(repo, UNRESTRICTED, resource_type, resource_id, resource)
    return len(new)
