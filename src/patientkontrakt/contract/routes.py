"""The routes of the contract's operations: `$patient-contract` on Patient.

Included in the app before the generic router, whose `GET /fhir/{type}/{id}` would otherwise
take `Patient/$patient-contract` for a read. GET names the patient in the path or with
`?identifier=system|value`; POST takes the same as a Parameters resource (operations.html#
request: an operation that does not change state may be called either way).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from patientkontrakt.contract.document import patient_contract
from patientkontrakt.contract.vocabulary import Canonicals
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
from patientkontrakt.fhir.registry import require_id
from patientkontrakt.outcomes import bad_request

router = guarded_router()
"""The contract's operations; they need an authenticated caller, like the generic routes."""


@router.get("/Patient/$patient-contract", summary="The contract of the patient with an identifier")
async def contract_by_identifier(request: Request) -> Response:
    """The patient contract as a FHIR document Bundle; `identifier=system|value` names the
    patient (400 without it, 404 when none matches, 412 when several do)."""
    return await _respond(request, identifier=request.query_params.get("identifier"))


@router.post("/Patient/$patient-contract", include_in_schema=False)
async def contract_by_identifier_post(request: Request) -> Response:
    """As the GET, with the identifier in a Parameters body."""
    return await _respond(request, identifier=await _identifier_parameter(request))


@router.get("/Patient/{resource_id}/$patient-contract", summary="The contract of a patient")
async def contract_of_patient(request: Request, resource_id: str) -> Response:
    """The patient contract as a FHIR document Bundle (type `document`, Composition first)."""
    require_id(resource_id)
    return await _respond(request, patient_id=resource_id)


@router.post("/Patient/{resource_id}/$patient-contract", include_in_schema=False)
async def contract_of_patient_post(request: Request, resource_id: str) -> Response:
    """As the GET; the body, if any, is an empty Parameters resource."""
    require_id(resource_id)
    await _identifier_parameter(request)
    return await _respond(request, patient_id=resource_id)


async def _respond(
    request: Request, *, patient_id: str | None = None, identifier: str | None = None
) -> Response:
    context = server(request)
    async with context.store.reading() as repo:
        document = await patient_contract(
            repo,
            scope_of(request),
            paging=context.paging(request),
            canonicals=Canonicals(context.settings.canonical_base),
            patient_id=patient_id,
            identifier=identifier,
        )
    return FhirResponse(render(orjson.dumps(document.bundle), request))


async def _identifier_parameter(request: Request) -> str | None:
    """The `identifier` of a POSTed Parameters body as `system|value`; None without a body."""
    body = await read_body(request, server(request).settings.max_body_bytes)
    if not body.strip():
        return None
    require_content_type(request, JSON_CONTENT_TYPES)
    parameters = parse_json_object(body, "Parameters")
    if parameters.get("resourceType") != "Parameters":
        raise bad_request("The body of $patient-contract must be a Parameters resource")
    for parameter in parameters.get("parameter", []):
        if isinstance(parameter, dict) and parameter.get("name") == "identifier":
            return _identifier_value(parameter)
    return None


def _identifier_value(parameter: dict[str, Any]) -> str:
    value = parameter.get("valueIdentifier")
    if isinstance(value, dict) and value.get("value"):
        system = value.get("system")
        return f"{system}|{value['value']}" if system else str(value["value"])
    if isinstance(parameter.get("valueString"), str) and parameter["valueString"]:
        return str(parameter["valueString"])
    raise bad_request(
        "Parameter 'identifier' needs a valueIdentifier or a valueString", "identifier"
    )
