"""Batch and transaction Bundles (http.html#transaction).

A transaction runs in one database transaction: ids are assigned and `urn:uuid:` and
conditional references resolved first, then entries run in the spec's order (DELETE, POST,
PUT/PATCH, GET); any failing entry rolls everything back. A batch runs each entry on its own.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from patientkontrakt.fhir import interactions, listing
from patientkontrakt.fhir.bundles import bundle, resource_fragment, status_line
from patientkontrakt.fhir.content import JSON_PATCH
from patientkontrakt.fhir.guard import RequestScope, history_access, search_access
from patientkontrakt.fhir.headers import ReturnPreference, parse_version_etag
from patientkontrakt.fhir.registry import is_resource_type, require_id
from patientkontrakt.outcomes import FhirError, Issue, bad_request, error, operation_outcome
from patientkontrakt.search.engine import search_bundle
from patientkontrakt.store.repository import Repository, StoredVersion, format_instant
from patientkontrakt.store.transactions import Store

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    """One parsed Bundle entry and, once run, its response."""

    index: int
    method: str
    resource_type: str
    resource_id: str | None
    version: str | None
    query: str | None
    history: bool
    full_url: str | None
    resource: dict[str, Any] | None
    if_match: int | None
    if_none_exist: str | None
    assigned_id: str | None = None
    response: dict[str, Any] = field(default_factory=dict)


async def process(
    store: Store,
    scope: RequestScope,
    body: dict[str, Any],
    *,
    paging: listing.Paging,
    prefer: ReturnPreference,
    max_entries: int,
) -> dict[str, Any]:
    """Run a batch or transaction Bundle and return its response Bundle."""
    if body.get("resourceType") != "Bundle":
        raise bad_request("POST to the base URL takes a Bundle", "resourceType")
    kind = body.get("type")
    if kind not in ("batch", "transaction"):
        raise bad_request(f"Bundle.type must be batch or transaction, not {kind!r}", "Bundle.type")
    raw_entries = body.get("entry", [])
    if not isinstance(raw_entries, list):
        raise bad_request("Bundle.entry must be an array", "Bundle.entry")
    if len(raw_entries) > max_entries:
        raise error(413, "too-costly", f"A Bundle may hold at most {max_entries} entries")
    if kind == "transaction":
        entries = [_parse_entry(i, raw) for i, raw in enumerate(raw_entries)]
        await _run_transaction(store, scope, entries, paging, prefer)
        responses = [e.response for e in entries]
    else:
        responses = [
            await _run_batch_entry(store, scope, i, raw, paging, prefer)
            for i, raw in enumerate(raw_entries)
        ]
    return bundle(f"{kind}-response", responses, {})


def _parse_entry(index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request(f"{where}.request is required", f"{where}.request")
    method = request.get("method")
    url = request.get("url")
    if method not in _ORDER or not isinstance(url, str) or not url:
        raise bad_request(
            f"{where}.request needs a method (GET, POST, PUT, PATCH, DELETE) and a url",
            f"{where}.request",
        )
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise bad_request(f"{where}.resource must be a resource", f"{where}.resource")
    if method in ("POST", "PUT", "PATCH") and resource is None:
        raise bad_request(f"{where}: {method} needs a resource", f"{where}.resource")
    path, _, query = url.partition("?")
    segments = [p for p in urlsplit(path).path.split("/") if p]
    # An absolute URL names its resource after the base: start at the first resource type.
    start = next((i for i, p in enumerate(segments) if is_resource_type(p)), None)
    if start is None:
        raise bad_request(
            f"{where}.request.url names no supported resource type", f"{where}.request.url"
        )
    parts = segments[start:]
    resource_type = parts[0]
    resource_id = require_id(parts[1]) if len(parts) > 1 and parts[1] != "_history" else None
    history = "_history" in parts
    version = parts[3] if len(parts) > 3 else None
    full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
    if_match = request.get("ifMatch")
    if_none_exist = request.get("ifNoneExist")
    return Entry(
        index=index,
        method=method,
        resource_type=resource_type,
        resource_id=resource_id,
        version=version,
        query=query or None,
        history=history,
        full_url=full_url,
        resource=resource,
        if_match=parse_version_etag(if_match, "ifMatch") if isinstance(if_match, str) else None,
        if_none_exist=if_none_exist if isinstance(if_none_exist, str) else None,
    )


def _check_types(entries: list[Entry]) -> None:
    for e in entries:
        if e.method in ("POST", "PUT") and e.resource is not None:
            interactions.check_resource_type(e.resource_type, e.resource)


async def _run_transaction(
    store: Store,
    scope: RequestScope,
    entries: list[Entry],
    paging: listing.Paging,
    prefer: ReturnPreference,
) -> None:
    _check_types(entries)
    async with store.writing() as repo:
        # Set before the first pass: its errors (unknown urn:uuid, 412s) name no entry yet.
        current: Entry | None = None
        try:
            references = await _assign_ids(repo, scope, entries)
            await _rewrite_references(repo, scope, entries, references)
            # The current versions of everything the entries change, in one statement.
            await repo.lock_current(
                [
                    (e.resource_type, e.resource_id)
                    for e in entries
                    if e.method in ("PUT", "PATCH", "DELETE") and e.resource_id is not None
                ]
            )
            for entry in sorted(entries, key=lambda e: _ORDER[e.method]):
                current = entry
                await _run_entry(repo, scope, entry, paging, prefer)
        except FhirError as exc:
            where = f"Bundle.entry[{current.index}]" if current is not None else "Bundle"
            raise FhirError(
                exc.status,
                [
                    Issue(i.code, f"{where}: {i.diagnostics}", i.severity, i.expression)
                    for i in exc.issues
                ],
                exc.headers,
            ) from exc


async def _assign_ids(
    repo: Repository, scope: RequestScope, entries: list[Entry]
) -> dict[str, str]:
    """Pass 1: the id each entry will write to, and what each fullUrl then refers to."""
    references: dict[str, str] = {}
    targets: set[str] = set()
    for e in entries:
        if e.method == "POST":
            existing = None
            if e.if_none_exist is not None:
                existing = await interactions.find_single_match(
                    repo, scope, e.resource_type, e.if_none_exist, "ifNoneExist"
                )
            e.assigned_id = existing or str(uuid.uuid4())
            if existing is not None:
                e.resource_id = existing
        elif e.method == "PUT" and e.query is not None and e.resource is not None:
            target = await interactions.conditional_update_target(
                repo, scope, e.resource_type, e.query, e.resource
            )
            e.resource_id = target or str(uuid.uuid4())
            e.resource["id"] = e.resource_id
        if e.method in ("PUT", "PATCH", "DELETE") and e.resource_id is not None:
            key = f"{e.resource_type}/{e.resource_id}"
            if key in targets:
                raise bad_request(f"{key} is changed by more than one entry of the transaction")
            targets.add(key)
        target_id = e.assigned_id if e.method == "POST" else e.resource_id
        if e.full_url and target_id and e.method in ("POST", "PUT"):
            references[e.full_url] = f"{e.resource_type}/{target_id}"
    return references


async def _rewrite_references(
    repo: Repository, scope: RequestScope, entries: list[Entry], references: dict[str, str]
) -> None:
    """Pass 2: `urn:uuid:`/fullUrl references to their ids; conditional references resolved."""
    resolved: dict[str, str] = {}

    async def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    node[key] = await resolve(value)
                else:
                    await visit(value)
        elif isinstance(node, list):
            for item in node:
                await visit(item)

    async def resolve(reference: str) -> str:
        if reference in references:
            return references[reference]
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            raise bad_request(f"Reference {reference} names no entry of this transaction")
        if "?" in reference and not reference.startswith(("#", "http:", "https:")):
            if reference not in resolved:
                resolved[reference] = await interactions.resolve_conditional_reference(
                    repo, scope, reference
                )
            return resolved[reference]
        return reference

    for e in entries:
        if e.resource is not None:
            await visit(e.resource)


async def _run_entry(
    repo: Repository,
    scope: RequestScope,
    e: Entry,
    paging: listing.Paging,
    prefer: ReturnPreference,
) -> None:
    result: interactions.Result
    if e.method == "DELETE":
        if e.resource_id is not None:
            result = await interactions.delete(
                repo, scope, e.resource_type, e.resource_id, if_match=e.if_match
            )
        elif e.query is not None:
            result = await interactions.conditional_delete(repo, scope, e.resource_type, e.query)
        else:
            raise bad_request("DELETE needs Type/id or Type?criteria")
        e.response = {"response": {"status": status_line(204)}}
        return
    if e.method == "POST":
        assert e.resource is not None
        if e.resource_id is not None:  # ifNoneExist matched an existing resource
            result = interactions.Result(
                200, await interactions.read(repo, scope, e.resource_type, e.resource_id)
            )
        else:
            result = await interactions.create(
                repo, scope, e.resource_type, e.resource, assigned_id=e.assigned_id
            )
    elif e.method == "PUT":
        assert e.resource is not None
        if e.resource_id is None:
            raise bad_request("PUT needs Type/id or Type?criteria")
        result = await interactions.update(
            repo, scope, e.resource_type, e.resource_id, e.resource, if_match=e.if_match
        )
    elif e.method == "PATCH":
        if e.resource_id is None:
            raise bad_request("PATCH needs Type/id")
        result = await interactions.patch(
            repo, scope, e.resource_type, e.resource_id, _patch_document(e), if_match=e.if_match
        )
    else:
        e.response = await _read_entry(repo, scope, e, paging)
        return
    e.response = _write_response(result, paging.base, prefer)


def _patch_document(e: Entry) -> Any:
    """A JSON Patch carried in a Binary, as bundles carry them (http.html#patch)."""
    binary = e.resource or {}
    if binary.get("resourceType") != "Binary" or binary.get("contentType") != JSON_PATCH:
        raise error(
            415, "not-supported", f"PATCH entries need a Binary with contentType {JSON_PATCH}"
        )
    try:
        return orjson.loads(base64.b64decode(str(binary.get("data", "")), validate=True))
    except (binascii.Error, orjson.JSONDecodeError) as exc:
        raise bad_request(f"The Binary's data is not a base64 JSON Patch: {exc}") from exc


async def _read_entry(
    repo: Repository, scope: RequestScope, e: Entry, paging: listing.Paging
) -> dict[str, Any]:
    pairs = _query_pairs(e.query)
    found: dict[str, Any]
    if e.history and e.version is not None and e.resource_id is not None:
        stored = await interactions.vread(repo, scope, e.resource_type, e.resource_id, e.version)
        return _stored_response(200, stored)
    if e.history:
        if e.resource_id is not None:
            await interactions.read_any(repo, scope, e.resource_type, e.resource_id)
        else:
            scope.guard.require(e.resource_type, "history")
        found = await listing.history(
            repo,
            pairs,
            paging,
            resource_type=e.resource_type,
            resource_id=e.resource_id,
            visible=scope.guard.visible(),
        )
        scope.guard.accessed(history_access(e.resource_type, found))
        return {"resource": found, "response": {"status": status_line(200)}}
    if e.resource_id is not None:
        return _stored_response(
            200, await interactions.read(repo, scope, e.resource_type, e.resource_id)
        )
    scope.guard.require(e.resource_type, "search")
    found = await search_bundle(
        repo,
        (e.resource_type,),
        e.resource_type,
        pairs,
        paging,
        visible=scope.guard.visible(),
    )
    scope.guard.accessed(search_access(e.resource_type, e.query or "", found))
    return {"resource": found, "response": {"status": status_line(200)}}


def _query_pairs(query: str | None) -> list[tuple[str, str]]:
    return parse_qsl(query or "", keep_blank_values=True)


def _stored_response(status: int, stored: StoredVersion) -> dict[str, Any]:
    return {
        "resource": resource_fragment(stored),
        "response": {
            "status": status_line(status),
            "etag": stored.etag,
            "lastModified": format_instant(stored.last_updated),
        },
    }


def _write_response(
    result: interactions.Result, base: str, prefer: ReturnPreference
) -> dict[str, Any]:
    stored = result.stored
    assert stored is not None
    out: dict[str, Any] = {"fullUrl": f"{base}/{stored.reference}"}
    response: dict[str, Any] = {
        "status": status_line(result.status),
        "location": f"{stored.reference}/_history/{stored.version_id}",
        "etag": stored.etag,
        "lastModified": format_instant(stored.last_updated),
    }
    if prefer == "representation" and stored.content is not None:
        out["resource"] = resource_fragment(stored)
    elif prefer == "OperationOutcome":
        response["outcome"] = operation_outcome(
            [Issue("informational", result.message or "ok", "information")]
        )
    out["response"] = response
    return out


async def _run_batch_entry(
    store: Store,
    scope: RequestScope,
    index: int,
    raw: Any,
    paging: listing.Paging,
    prefer: ReturnPreference,
) -> dict[str, Any]:
    try:
        entry = _parse_entry(index, raw)
        if entry.method in ("GET", "HEAD"):
            async with store.reading() as repo:
                await _run_entry(repo, scope, entry, paging, prefer)
        else:
            async with store.writing() as repo:
                if entry.method == "PUT" and entry.query is not None and entry.resource:
                    result = await interactions.conditional_update(
                        repo,
                        scope,
                        entry.resource_type,
                        entry.query,
                        entry.resource,
                        if_match=entry.if_match,
                    )
                    entry.response = _write_response(result, paging.base, prefer)
                elif entry.method == "POST" and entry.if_none_exist is not None:
                    assert entry.resource is not None
                    result = await interactions.create(
                        repo,
                        scope,
                        entry.resource_type,
                        entry.resource,
                        if_none_exist=entry.if_none_exist,
                    )
                    entry.response = _write_response(result, paging.base, prefer)
                else:
                    await _rewrite_references(repo, scope, [entry], {})
                    await _run_entry(repo, scope, entry, paging, prefer)
        return entry.response
    except FhirError as exc:
        return {"response": {"status": str(exc.status), "outcome": exc.outcome()}}
