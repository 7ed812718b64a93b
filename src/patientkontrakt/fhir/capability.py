"""The CapabilityStatement, generated from the registry so it claims only what the server does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from patientkontrakt import __version__
from patientkontrakt.fhir.content import FHIR_JSON, JSON_PATCH
from patientkontrakt.fhir.registry import FHIR_VERSION, RESOURCE_TYPES, has_element

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")

_ID_PARAM = {
    "name": "_id",
    "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "type": "token",
    "documentation": "Logical id of the resource; comma-separated values mean any of them.",
}
_IDENTIFIER_PARAM = {
    "name": "identifier",
    "type": "token",
    "documentation": (
        "Business identifier: system|value, |value (no system), system| or value. "
        "Personnummer use http://electronichealth.se/identifier/personnummer."
    ),
}


def _resource_entry(resource_type: str) -> dict[str, Any]:
    params = [_ID_PARAM]
    if has_element(resource_type, "identifier"):
        params.append(
            {
                **_IDENTIFIER_PARAM,
                "definition": f"http://hl7.org/fhir/SearchParameter/{resource_type}-identifier",
            }
        )
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "local"],
        "searchParam": params,
    }


def capability_statement(base: str) -> dict[str, Any]:
    """This server's CapabilityStatement (kind `instance`)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": dt.date.today().isoformat(),
        "publisher": "patientkontrakt",
        "kind": "instance",
        "software": {"name": "patientkontrakt", "version": __version__},
        "implementation": {
            "description": "patientkontrakt FHIR R4 server for Swedish patient contracts",
            "url": base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "patchFormat": [JSON_PATCH],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Searches and conditional interactions accept _id and identifier; other "
                    "parameters are refused with an OperationOutcome until the search engine "
                    "lands."
                ),
                "resource": [_resource_entry(t) for t in RESOURCE_TYPES],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
            }
        ],
    }
