"""The FHIR RESTful API's routes (http.html). Thin: parse, one service call, respond.

Every route but `metadata` runs under the caller's RequestScope (`guarded.py`): authenticated
first, checked by the interactions, and its accesses made durable before it answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from patientkontrakt.fhir import interactions, listing, transaction
from patientkontrakt.fhir.capability import capability_bytes
from patientkontrakt.fhir.content import (
    FORM_CONTENT_TYPES,
    JSON_CONTENT_TYPES,
    PATCH_CONTENT_TYPES,
    FhirResponse,
    check_acceptable,
    parse_json_object,
    read_body,
    render,
    require_content_type,
)
from patientkontrakt.fhir.context import server
from patientkontrakt.fhir.guard import history_access, search_access
from patientkontrakt.fhir.guarded import guarded_router, scope_of
from patientkontrakt.fhir.headers import (
    etag_matches,
    http_date,
    parse_http_date,
    parse_version_etag,
    return_preference,
)
from patientkontrakt.fhir.registry import RESOURCE_TYPES, require_id, require_type
from patientkontrakt.outcomes import Issue, bad_request, not_found, operation_outcome
from patientkontrakt.search.engine import Extra, compartment_filter, search_bundle
from patientkontrakt.search.query import Handling
from patientkontrakt.store.repository import StoredVersion

open_router = APIRouter(prefix="/fhir", dependencies=[Depends(check_acceptable)])
"""Routes anyone may call: the CapabilityStatement."""
router = guarded_router()
"""Routes that need an authenticated caller and run under its RequestScope."""

TYPE_PATH = "/{resource_type}"
INSTANCE_PATH = "/{resource_type}/{resource_id}"


def _json(request: Request, value: Any, status: int = 200) -> Response:
    return FhirResponse(render(orjson.dumps(value), request), status_code=status)


def _version_headers(stored: StoredVersion) -> dict[str, str]:
    return {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}


def _write_response(request: Request, result: interactions.Result) -> Response:
    stored = result.stored
    assert stored is not None
    headers = _version_headers(stored)
    if result.status == 201:
        base = server(request).base_url(request)
        headers["Location"] = f"{base}/{stored.reference}/_history/{stored.version_id}"
    preference = return_preference(request.headers.get("prefer"))
    if preference == "minimal" or stored.content is None:
        return Response(status_code=result.status, headers=headers)
    if preference == "OperationOutcome":
        outcome = operation_outcome(
            [Issue("informational", result.message or f"{stored.reference} stored", "information")]
        )
        return FhirResponse(orjson.dumps(outcome), status_code=result.status, headers=headers)
    body = render(stored.content, request)
    return FhirResponse(body, status_code=result.status, headers=headers)


def _if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    return parse_version_etag(value, "If-Match") if value is not None else None


async def _resource_body(request: Request, resource_type: str) -> dict[str, Any]:
    require_content_type(request, JSON_CONTENT_TYPES)
    body = await read_body(request, server(request).settings.max_body_bytes)
    resource = parse_json_object(body)
    interactions.check_resource_type(resource_type, resource)
    return resource


def _query(request: Request) -> str:
    return request.url.query


@open_router.get("/metadata", summary="CapabilityStatement of this server")
async def metadata(request: Request) -> Response:
    """The server's CapabilityStatement (http.html#capabilities)."""
    body = capability_bytes(server(request).base_url(request))
    return FhirResponse(render(body, request))


@router.post("", summary="Batch or transaction Bundle")
# Clients often keep the base URL with a trailing slash; a redirect would drop the POST body.
@router.post("/", include_in_schema=False)
async def batch_or_transaction(request: Request) -> Response:
    """Process a `batch` or `transaction` Bundle (http.html#transaction)."""
    context = server(request)
    require_content_type(request, JSON_CONTENT_TYPES)
    body = parse_json_object(await read_body(request, context.settings.max_body_bytes), "Bundle")
    result = await transaction.process(
        context.store,
        scope_of(request),
        body,
        paging=context.paging(request),
        prefer=return_preference(request.headers.get("prefer")),
        max_entries=context.settings.max_bundle_entries,
    )
    return _json(request, result)


@router.get("/_history", summary="History of all resources")
async def history_system(request: Request) -> Response:
    """System-level history, newest first; `_since`, `_count`."""
    return await _history(request, None)


@router.get(TYPE_PATH + "/_history", summary="History of a resource type")
async def history_type(request: Request, resource_type: str) -> Response:
    """Type-level history, newest first; `_since`, `_count`."""
    require_type(resource_type)
    return await _history(request, resource_type)


async def _history(
    request: Request, resource_type: str | None, resource_id: str | None = None
) -> Response:
    context = server(request)
    scope = scope_of(request)
    async with context.store.reading() as repo:
        if resource_id is not None:
            assert resource_type is not None
            await interactions.read_any(repo, scope, resource_type, resource_id)
        else:
            for name in (resource_type,) if resource_type else RESOURCE_TYPES:
                scope.guard.require(name, "history")
        found = await listing.history(
            repo,
            list(request.query_params.multi_items()),
            context.paging(request),
            resource_type=resource_type,
            resource_id=resource_id,
            visible=scope.guard.visible(),
        )
    scope.guard.accessed(history_access(resource_type, found))
    return _json(request, found)


def _handling(request: Request) -> Handling:
    prefer = request.headers.get("prefer", "")
    return "strict" if "handling=strict" in prefer.replace(" ", "") else "lenient"


async def _search(
    request: Request,
    resource_types: tuple[str, ...],
    path: str,
    pairs: list[tuple[str, str]],
    extra: Extra | None = None,
) -> Response:
    context = server(request)
    scope = scope_of(request)
    for name in resource_types:
        scope.guard.require(name, "search")
    async with context.store.reading() as repo:
        found = await search_bundle(
            repo,
            resource_types,
            path,
            pairs,
            context.paging(request),
            handling=_handling(request),
            extra=extra,
            visible=scope.guard.visible(),
        )
    query = urlencode(pairs)
    scope.guard.accessed(search_access(resource_types[0] if path else None, query, found))
    return _json(request, found)


@router.get("", summary="Search across resource types (`_type`)")
@router.get("/", include_in_schema=False)
async def search_system(request: Request) -> Response:
    """System-level search; `_type` names the types, else all; common parameters only."""
    pairs = list(request.query_params.multi_items())
    named = [t for k, v in pairs if k == "_type" for t in v.split(",") if t]
    types = tuple(require_type(t) for t in named) if named else RESOURCE_TYPES
    return await _search(request, types, "", pairs)


@router.get(TYPE_PATH, summary="Search a resource type")
async def search(request: Request, resource_type: str) -> Response:
    """Search with the type's SearchParameters (search.html)."""
    require_type(resource_type)
    pairs = list(request.query_params.multi_items())
    return await _search(request, (resource_type,), resource_type, pairs)


@router.post(TYPE_PATH + "/_search", summary="Search a resource type (form body)")
async def search_by_post(request: Request, resource_type: str) -> Response:
    """`POST /Type/_search` with `application/x-www-form-urlencoded` parameters."""
    require_type(resource_type)
    require_content_type(request, FORM_CONTENT_TYPES)
    body = await read_body(request, server(request).settings.max_body_bytes)
    try:
        form = parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise bad_request("The form body is not UTF-8") from exc
    pairs = list(request.query_params.multi_items()) + form
    return await _search(request, (resource_type,), resource_type, pairs)


@router.post(TYPE_PATH, summary="Create a resource", status_code=201)
async def create(request: Request, resource_type: str) -> Response:
    """Create with a server-assigned id; honours If-None-Exist (conditional create)."""
    require_type(resource_type)
    body = await _resource_body(request, resource_type)
    async with server(request).store.writing() as repo:
        result = await interactions.create(
            repo,
            scope_of(request),
            resource_type,
            body,
            if_none_exist=request.headers.get("if-none-exist"),
        )
    return _write_response(request, result)


@router.put(TYPE_PATH, summary="Conditional update")
async def conditional_update(request: Request, resource_type: str) -> Response:
    """`PUT /Type?criteria` (http.html#cond-update)."""
    require_type(resource_type)
    body = await _resource_body(request, resource_type)
    async with server(request).store.writing() as repo:
        result = await interactions.conditional_update(
            repo,
            scope_of(request),
            resource_type,
            _query(request),
            body,
            if_match=_if_match(request),
        )
    return _write_response(request, result)


@router.delete(TYPE_PATH, summary="Conditional delete", status_code=204)
async def conditional_delete(request: Request, resource_type: str) -> Response:
    """`DELETE /Type?criteria` of a single match (http.html#cond-delete)."""
    require_type(resource_type)
    async with server(request).store.writing() as repo:
        await interactions.conditional_delete(
            repo, scope_of(request), resource_type, _query(request)
        )
    return Response(status_code=204)


@router.get(INSTANCE_PATH, summary="Read a resource")
async def read(request: Request, resource_type: str, resource_id: str) -> Response:
    """The current version; 304 on If-None-Match / If-Modified-Since, 410 when deleted."""
    require_type(resource_type)
    require_id(resource_id)
    async with server(request).store.reading() as repo:
        stored = await interactions.read(repo, scope_of(request), resource_type, resource_id)
    headers = _version_headers(stored)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, stored.version_id):
            return Response(status_code=304, headers=headers)
    else:
        since = parse_http_date(request.headers.get("if-modified-since", ""))
        if since is not None and stored.last_updated.replace(microsecond=0) <= since:
            return Response(status_code=304, headers=headers)
    assert stored.content is not None
    return FhirResponse(render(stored.content, request), headers=headers)


@router.put(INSTANCE_PATH, summary="Update a resource (or create it with this id)")
async def update(request: Request, resource_type: str, resource_id: str) -> Response:
    """Update; update-as-create for an unknown id; If-Match for optimistic locking."""
    require_type(resource_type)
    require_id(resource_id)
    body = await _resource_body(request, resource_type)
    async with server(request).store.writing() as repo:
        result = await interactions.update(
            repo, scope_of(request), resource_type, resource_id, body, if_match=_if_match(request)
        )
    return _write_response(request, result)


@router.patch(INSTANCE_PATH, summary="JSON Patch a resource")
async def patch(request: Request, resource_type: str, resource_id: str) -> Response:
    """Apply an `application/json-patch+json` document; the result is validated."""
    require_type(resource_type)
    require_id(resource_id)
    require_content_type(request, PATCH_CONTENT_TYPES)
    raw = await read_body(request, server(request).settings.max_body_bytes)
    try:
        operations = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Body is not valid JSON: {exc}") from exc
    async with server(request).store.writing() as repo:
        result = await interactions.patch(
            repo,
            scope_of(request),
            resource_type,
            resource_id,
            operations,
            if_match=_if_match(request),
        )
    return _write_response(request, result)


@router.delete(INSTANCE_PATH, summary="Delete a resource", status_code=204)
async def delete(request: Request, resource_type: str, resource_id: str) -> Response:
    """Delete (a new version marked deleted); later reads give 410."""
    require_type(resource_type)
    require_id(resource_id)
    async with server(request).store.writing() as repo:
        result = await interactions.delete(
            repo, scope_of(request), resource_type, resource_id, if_match=_if_match(request)
        )
    assert result.stored is not None
    return Response(status_code=204, headers={"ETag": result.stored.etag})


@router.get(INSTANCE_PATH + "/_history", summary="History of a resource")
async def history_instance(request: Request, resource_type: str, resource_id: str) -> Response:
    """Every version of one resource, newest first."""
    require_type(resource_type)
    require_id(resource_id)
    return await _history(request, resource_type, resource_id)


@router.get(INSTANCE_PATH + "/_history/{version_id}", summary="Read one version")
async def vread(
    request: Request, resource_type: str, resource_id: str, version_id: str
) -> Response:
    """One version by number; 410 when that version records the deletion."""
    require_type(resource_type)
    require_id(resource_id)
    async with server(request).store.reading() as repo:
        stored = await interactions.vread(
            repo, scope_of(request), resource_type, resource_id, version_id
        )
    assert stored.content is not None
    return FhirResponse(render(stored.content, request), headers=_version_headers(stored))


@router.get(INSTANCE_PATH + "/{compartment_type}", summary="Search a patient's compartment")
async def search_compartment(
    request: Request, resource_type: str, resource_id: str, compartment_type: str
) -> Response:
    """`GET /Patient/{id}/CarePlan`: the type's resources in the Patient's compartment."""
    if resource_type != "Patient":
        raise not_found(f"No compartment search on {resource_type}; only Patient has one")
    require_id(resource_id)
    require_type(compartment_type)
    context = server(request)
    extra = compartment_filter("Patient", resource_id, compartment_type, context.base_url(request))
    pairs = list(request.query_params.multi_items())
    path = f"Patient/{resource_id}/{compartment_type}"
    return await _search(request, (compartment_type,), path, pairs, extra)
