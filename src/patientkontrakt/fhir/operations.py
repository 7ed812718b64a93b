"""FHIR operations on resource types: `$validate` (resource-operation-validate.html).

Included in the app before the generic router, so `/{type}/$validate` is never taken for a read
or an instance path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from patientkontrakt.fhir.content import (
    JSON_CONTENT_TYPES,
    FhirResponse,
    parse_json_object,
    read_body,
    render,
    require_content_type,
)
from patientkontrakt.fhir.context import server
from patientkontrakt.fhir.guarded import guarded_router, scope_of
from patientkontrakt.fhir.registry import require_type
from patientkontrakt.outcomes import FhirError, Issue, bad_request, not_supported, operation_outcome
from patientkontrakt.validation.base import validate_resource
from patientkontrakt.validation.profiles import active

router = guarded_router()
"""Operations need an authenticated caller, like the generic routes."""

VALIDATE_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
"""The canonical URL of the `$validate` operation, as the CapabilityStatement lists it."""

_MODES = frozenset({"create", "update", "profile"})


@router.post("/{resource_type}/$validate", summary="Validate a resource without storing it")
async def validate(request: Request, resource_type: str) -> Response:
    """Check a resource as a write would, and answer 200 with the issues found.

    The body is the resource, or a Parameters resource with `resource` and optional `profile`
    and `mode`; `?profile=` names a profile too.
    """
    require_type(resource_type)
    scope_of(request).guard.require(resource_type, "operation")
    require_content_type(request, JSON_CONTENT_TYPES)
    body = parse_json_object(await read_body(request, server(request).settings.max_body_bytes))
    resource, profiles = validation_request(
        resource_type, body, request.query_params.getlist("profile")
    )
    outcome = validation_outcome(resource_type, resource, profiles)
    return FhirResponse(render(orjson.dumps(outcome), request))


def validation_request(
    resource_type: str, body: dict[str, Any], query_profiles: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """The resource to validate and the profiles named, from the body and the query.

    400 when there is no resource of `resource_type`, a `mode` this server does not validate
    (`delete`), or a profile that is not one of the product's.
    """
    profiles = [p for p in query_profiles if p]
    resource: Any = body
    if body.get("resourceType") == "Parameters":
        resource = None
        for parameter in body.get("parameter", []):
            if not isinstance(parameter, dict):
                continue
            name = parameter.get("name")
            if name == "resource":
                resource = parameter.get("resource")
            elif name == "profile":
                value = parameter.get("valueUri") or parameter.get("valueCanonical")
                if not isinstance(value, str):
                    raise bad_request("Parameter 'profile' needs a valueUri", "profile")
                profiles.append(value)
            elif name == "mode" and parameter.get("valueCode") not in _MODES:
                raise not_supported(
                    f"mode '{parameter.get('valueCode')}' is not supported; use create, update "
                    "or profile"
                )
        if not isinstance(resource, dict):
            raise bad_request("The Parameters resource has no 'resource' parameter", "resource")
    if resource.get("resourceType") != resource_type:
        raise bad_request(
            f"resourceType '{resource.get('resourceType')}' of the resource to validate does "
            f"not match '{resource_type}' in the URL",
            "resourceType",
        )
    known = active()
    for url in profiles:
        profile = known.get(url)
        if profile is None:
            raise not_supported(f"Profile {url} is not known to this server")
        if profile.type != resource_type or profile.kind != "resource":
            raise bad_request(f"Profile {url} is for {profile.type}, not {resource_type}")
    return resource, profiles


def validation_outcome(
    resource_type: str, resource: dict[str, Any], profiles: Sequence[str]
) -> dict[str, Any]:
    """The OperationOutcome of `$validate`: the issues, or one saying that none were found."""
    try:
        validate_resource(resource_type, resource, profiles=profiles)
    except FhirError as exc:
        if exc.status != 422:
            raise
        return operation_outcome(exc.issues)
    return operation_outcome(
        [Issue("informational", "Validation passed: no issues found", "information")]
    )
