"""The FHIR RESTful interactions on one repository (http.html), free of HTTP.

Routes and the batch/transaction processor both call these, so a bundle entry behaves exactly
like the same request made on its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jsonpatch
import orjson

from patientkontrakt.fhir.guard import Access, Change, Interaction, RequestScope
from patientkontrakt.fhir.registry import require_type
from patientkontrakt.outcomes import (
    FhirError,
    Issue,
    bad_request,
    error,
    gone,
    not_found,
    precondition_failed,
)
from patientkontrakt.search.engine import matching_ids
from patientkontrakt.search.indexer import index_rows
from patientkontrakt.store.repository import NewResource, Repository, StoredVersion
from patientkontrakt.validation.base import validate_resource


@dataclass(frozen=True)
class Result:
    """What an interaction did: the HTTP status and the version it produced or found."""

    status: int
    stored: StoredVersion | None = None
    message: str | None = None


async def read(
    repo: Repository, scope: RequestScope, resource_type: str, resource_id: str
) -> StoredVersion:
    """The current version; 404 if it never existed (or the caller may not know it), 410 if
    deleted."""
    scope.guard.require(resource_type, "read")
    current = await _visible_current(repo, scope, resource_type, resource_id)
    if current.deleted:
        raise FhirError(
            410,
            [Issue("deleted", f"{resource_type}/{resource_id} was deleted")],
            headers={"ETag": current.etag},
        )
    scope.guard.accessed(Access("read", resource_type, (current.reference,)))
    return current


async def _visible_current(
    repo: Repository, scope: RequestScope, resource_type: str, resource_id: str
) -> StoredVersion:
    """The current version (maybe deleted) if the caller may see it; else 404 (or 403)."""
    current = await repo.current(resource_type, resource_id)
    if current is None:
        raise not_found(f"{resource_type}/{resource_id} is not known")
    await scope.guard.check_read(repo, current)
    return current


async def read_any(
    repo: Repository, scope: RequestScope, resource_type: str, resource_id: str
) -> StoredVersion:
    """The current version even when deleted (for history); 404 if it never existed."""
    scope.guard.require(resource_type, "read")  # an instance's history reads that instance
    return await _visible_current(repo, scope, resource_type, resource_id)


async def vread(
    repo: Repository, scope: RequestScope, resource_type: str, resource_id: str, version: str
) -> StoredVersion:
    """One version; 404 if there is no such version, 410 if it records a deletion."""
    scope.guard.require(resource_type, "vread")
    # isascii: str.isdigit() is also true for "²" (int() refuses it) and "١" (int() takes it).
    if not (version.isascii() and version.isdigit()):
        raise bad_request(f"Version id '{version}' is not a number")
    number = int(version)
    await _visible_current(repo, scope, resource_type, resource_id)
    # Larger than the version column holds: no such version (binding it would fail).
    stored = await repo.version(resource_type, resource_id, number) if number < 2**31 else None
    if stored is None:
        raise not_found(f"{resource_type}/{resource_id}/_history/{version} is not known")
    if stored.deleted:
        raise gone(f"{resource_type}/{resource_id}/_history/{version} records a deletion")
    scope.guard.accessed(Access("vread", resource_type, (f"{stored.reference}",)))
    return stored


def check_resource_type(resource_type: str, body: dict[str, Any]) -> None:
    """400 unless the body's resourceType is the type in the URL."""
    given = body.get("resourceType")
    if given != resource_type:
        raise bad_request(
            f"resourceType '{given}' in the body does not match '{resource_type}' in the URL",
            "resourceType",
        )


async def create(
    repo: Repository,
    scope: RequestScope,
    resource_type: str,
    body: dict[str, Any],
    *,
    if_none_exist: str | None = None,
    assigned_id: str | None = None,
) -> Result:
    """Create with a server-assigned id (any id in the body is ignored, as the spec says).

    With `if_none_exist`, a single match is returned as it is (200) and several give 412.
    `assigned_id` lets a transaction give the id it already used for `urn:uuid:` references.
    """
    check_resource_type(resource_type, body)
    scope.guard.require(resource_type, "create")
    if if_none_exist is not None:
        existing = await find_single_match(
            repo, scope, resource_type, if_none_exist, "If-None-Exist"
        )
        if existing is not None:
            found = await read(repo, scope, resource_type, existing)
            return Result(200, found, "matched If-None-Exist")
    body.pop("id", None)
    validate_resource(resource_type, body)
    new_id = assigned_id or str(uuid.uuid4())
    change = Change(resource_type, new_id, "POST", None, body)
    stored = await _store(repo, scope, change, None, "create")
    return Result(201, stored)


async def update(
    repo: Repository,
    scope: RequestScope,
    resource_type: str,
    resource_id: str,
    body: dict[str, Any],
    *,
    if_match: int | None = None,
) -> Result:
    """Update, or create with the client's id (update-as-create) when the id is unknown."""
    check_resource_type(resource_type, body)
    if body.get("id") != resource_id:
        raise bad_request(
            f"The body's id ({body.get('id')!r}) must equal the id in the URL ({resource_id!r})",
            "id",
        )
    scope.guard.require(resource_type, "update")
    current = await repo.current(resource_type, resource_id, for_update=True)
    if current is not None:
        await scope.guard.check_read(repo, current)
    _check_if_match(current, if_match, resource_type, resource_id)
    validate_resource(resource_type, body)
    created = current is None or current.deleted
    before = _content(current)
    change = Change(resource_type, resource_id, "PUT", before, body)
    stored = await _store(repo, scope, change, current, "create" if created else "update")
    return Result(201 if created else 200, stored)


async def conditional_update(
    repo: Repository,
    scope: RequestScope,
    resource_type: str,
    query: str,
    body: dict[str, Any],
    *,
    if_match: int | None = None,
) -> Result:
    """`PUT /Type?criteria`: update the single match, create when none, 412 when several."""
    target = await conditional_update_target(repo, scope, resource_type, query, body)
    if target is None:
        return await create(repo, scope, resource_type, body)
    body["id"] = target
    return await update(repo, scope, resource_type, target, body, if_match=if_match)


async def conditional_update_target(
    repo: Repository, scope: RequestScope, resource_type: str, query: str, body: dict[str, Any]
) -> str | None:
    """The id a conditional update writes to, or None when it creates a new resource.

    Follows http.html#cond-update: no match and no id creates; no match with an id that
    exists is a 409; one match is updated (a different id in the body is a 400).
    """
    check_resource_type(resource_type, body)
    match = await find_single_match(repo, scope, resource_type, query, "Conditional update")
    body_id = body.get("id")
    if body_id is not None and not isinstance(body_id, str):
        raise bad_request("id must be a string", "id")
    if match is None:
        if body_id is None:
            return None
        existing = await repo.current(resource_type, body_id)
        if existing is not None and not existing.deleted:
            raise error(
                409,
                "conflict",
                f"No resource matches the criteria, but {resource_type}/{body_id} exists",
            )
        return body_id
    if body_id is not None and body_id != match:
        raise bad_request(
            f"The body's id ({body_id!r}) differs from the matching resource's id ({match!r})",
            "id",
        )
    return match


async def patch(
    repo: Repository,
    scope: RequestScope,
    resource_type: str,
    resource_id: str,
    operations: Any,
    *,
    if_match: int | None = None,
) -> Result:
    """Apply a JSON Patch (RFC 6902) to the current version and store the result as an update."""
    scope.guard.require(resource_type, "patch")
    current = await repo.current(resource_type, resource_id, for_update=True)
    if current is None:
        raise not_found(f"{resource_type}/{resource_id} is not known")
    await scope.guard.check_read(repo, current)
    if current.deleted or current.content is None:
        raise gone(f"{resource_type}/{resource_id} was deleted")
    _check_if_match(current, if_match, resource_type, resource_id)
    if not isinstance(operations, list):
        raise bad_request("A JSON Patch document is a JSON array of operations")
    original = orjson.loads(current.content)
    try:
        patched = jsonpatch.JsonPatch(operations).apply(original)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise error(422, "processing", f"JSON Patch could not be applied: {exc}") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise error(422, "processing", f"JSON Patch is not valid: {exc}") from exc
    if not isinstance(patched, dict):
        raise error(422, "processing", "The patched document is not a resource")
    if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
        raise error(422, "processing", "A patch may not change resourceType or id")
    validate_resource(resource_type, patched)
    change = Change(resource_type, resource_id, "PATCH", original, patched)
    stored = await _store(repo, scope, change, current, "patch")
    return Result(200, stored)


async def delete(
    repo: Repository,
    scope: RequestScope,
    resource_type: str,
    resource_id: str,
    *,
    if_match: int | None = None,
) -> Result:
    """Delete: a new version marked deleted. Deleting a deleted resource changes nothing."""
    scope.guard.require(resource_type, "delete")
    current = await repo.current(resource_type, resource_id, for_update=True)
    if current is None:
        raise not_found(f"{resource_type}/{resource_id} is not known")
    await scope.guard.check_read(repo, current)
    if current.deleted and if_match is None:
        return Result(204, current, "already deleted")
    _check_if_match(current, if_match, resource_type, resource_id)
    change = Change(resource_type, resource_id, "DELETE", _content(current), None)
    await scope.check_write(repo, change)
    stored = await repo.delete(current)
    await scope.guard.written(repo, change, stored, "delete")
    return Result(204, stored)


async def conditional_delete(
    repo: Repository, scope: RequestScope, resource_type: str, query: str
) -> Result:
    """`DELETE /Type?criteria`: delete the single match; 404 when none, 412 when several."""
    match = await find_single_match(repo, scope, resource_type, query, "Conditional delete")
    if match is None:
        raise not_found(f"No {resource_type} matches {query}")
    return await delete(repo, scope, resource_type, match)


async def resolve_conditional_reference(
    repo: Repository, scope: RequestScope, reference: str
) -> str:
    """`Type?criteria` as `Type/id` of its single match (transaction.html#cond-refs)."""
    resource_type, _, query = reference.partition("?")
    require_type(resource_type)
    scope.guard.require(resource_type, "search")
    ids = await matching_ids(repo, resource_type, query, limit=2, visible=scope.guard.visible())
    if len(ids) != 1:
        raise precondition_failed(
            f"Conditional reference {reference} matched {'no' if not ids else 'several'} "
            "resources; it must match exactly one"
        )
    return f"{resource_type}/{ids[0]}"


async def find_single_match(
    repo: Repository, scope: RequestScope, resource_type: str, query: str, what: str
) -> str | None:
    """The id of the one current resource matching `query`, None if none; 412 if several.

    Concurrent conditional writes with the same criteria are serialised first, so two
    `If-None-Exist` creates for one personnummer cannot both find nothing and both create.
    """
    await repo.serialize(f"{resource_type}?{query}")
    # Only what the caller may see can match: a hidden match must not reveal itself.
    ids = await matching_ids(repo, resource_type, query, limit=2, visible=scope.guard.visible())
    if len(ids) > 1:
        raise precondition_failed(f"{what} criteria match more than one {resource_type}")
    return ids[0] if ids else None


def prepare_new(resource_type: str, resource_id: str, body: dict[str, Any]) -> NewResource:
    """A resource checked, validated and indexed for `Repository.create_many` (bulk loads)."""
    check_resource_type(resource_type, body)
    body["id"] = resource_id
    validate_resource(resource_type, body)
    return NewResource(
        resource_type, resource_id, body, index_rows(resource_type, resource_id, body), "PUT"
    )


async def _store(
    repo: Repository,
    scope: RequestScope,
    change: Change,
    previous: StoredVersion | None,
    interaction: Interaction,
) -> StoredVersion:
    """Check, then write a validated resource with its search index rows and its records,
    all in the caller's transaction."""
    await scope.check_write(repo, change)
    body = change.after
    assert body is not None
    resource_type, resource_id = change.resource_type, change.resource_id
    index = index_rows(resource_type, resource_id, body)
    stored = await repo.write(
        resource_type, resource_id, body, previous=previous, method=change.method, index=index
    )
    await scope.guard.written(repo, change, stored, interaction)
    return stored


def _content(stored: StoredVersion | None) -> dict[str, Any] | None:
    if stored is None or stored.deleted or stored.content is None:
        return None
    content: dict[str, Any] = orjson.loads(stored.content)
    return content


def _check_if_match(
    current: StoredVersion | None, if_match: int | None, resource_type: str, resource_id: str
) -> None:
    if if_match is None:
        return
    if current is None or current.deleted or current.version_id != if_match:
        have = "none" if current is None or current.deleted else f'W/"{current.version_id}"'
        raise precondition_failed(
            f'If-Match W/"{if_match}" does not match the current version of '
            f"{resource_type}/{resource_id} ({have})"
        )
