"""The CapabilityStatement, generated from the registry so it claims only what the server does."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import orjson

from patientkontrakt import __version__
from patientkontrakt.canonical import canonical_base, profiles_dir, rebase
from patientkontrakt.fhir.conformance import READ_ONLY_TYPES
from patientkontrakt.fhir.content import FHIR_JSON, JSON_PATCH
from patientkontrakt.fhir.operations import VALIDATE_DEFINITION
from patientkontrakt.fhir.registry import FHIR_VERSION, RESOURCE_TYPES, SERVER_WRITTEN_TYPES
from patientkontrakt.search.parameters import registry
from patientkontrakt.validation.profiles import ProfileSet, profile_set

_COMMON_PARAMS = (
    ("_id", "token", "Logical id, across the types named by _type"),
    ("_lastUpdated", "date", "When the resource was last changed"),
    ("_tag", "token", "Tags in meta.tag"),
    ("_profile", "uri", "Profiles in meta.profile"),
    ("_security", "token", "Security labels in meta.security"),
    ("_source", "uri", "meta.source"),
)

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
READ_INTERACTIONS = frozenset({"read", "vread", "history-instance", "history-type", "search-type"})
"""What the read-only types (conformance resources, the audit trail) support."""
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    return [
        {
            "name": p.code,
            "definition": p.url,
            "type": p.type,
            "documentation": p.description or p.expression,
        }
        for p in registry().for_type(resource_type)
    ]


def _resource_entry(resource_type: str, profiles: ProfileSet, canonical: str) -> dict[str, Any]:
    references = [p.code for p in registry().for_type(resource_type) if p.type == "reference"]
    reverse = sorted(
        f"{source}:{p.code}"
        for source in RESOURCE_TYPES
        for p in registry().for_type(source)
        if p.type == "reference" and resource_type in p.targets
    )
    supported = profiles.for_type(resource_type)
    writable = resource_type not in READ_ONLY_TYPES | SERVER_WRITTEN_TYPES
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        **({"supportedProfile": supported} if supported else {}),
        "interaction": [
            {"code": code} for code in TYPE_INTERACTIONS if writable or code in READ_INTERACTIONS
        ],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": writable,
        "conditionalCreate": writable,
        "conditionalRead": "not-supported",
        "conditionalUpdate": writable,
        "conditionalDelete": "single" if writable else "not-supported",
        "referencePolicy": ["literal", "local"],
        "searchInclude": ["*", *(f"{resource_type}:{code}" for code in references)],
        "searchRevInclude": reverse,
        "searchParam": _search_params(resource_type),
        "operation": [
            {"name": "validate", "definition": VALIDATE_DEFINITION},
            *product_operations(canonical).get(resource_type, []),
        ],
    }


@lru_cache(maxsize=4)
def product_operations(canonical: str) -> dict[str, list[dict[str, str]]]:
    """The operations the product defines (`fhir_profiles/OperationDefinition/`), by type."""
    by_type: dict[str, list[dict[str, str]]] = {}
    for path in sorted((profiles_dir() / "OperationDefinition").glob("*.json")):
        definition = rebase(orjson.loads(path.read_bytes()), canonical)
        for resource_type in definition.get("resource", []):
            by_type.setdefault(resource_type, []).append(
                {"name": definition["code"], "definition": definition["url"]}
            )
    return by_type


def capability_statement(base: str, canonical: str | None = None) -> dict[str, Any]:
    """This server's CapabilityStatement (kind `instance`); `canonical`: PK_CANONICAL_BASE."""
    canonical = canonical or canonical_base()
    profiles = profile_set(canonical)
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
                    "FHIR R4 search over the listed parameters with their modifiers, chains, "
                    "_has, _include/_revinclude (:iterate), _sort, _count, _summary, _elements "
                    "and _total. Unknown parameters are reported in an OperationOutcome entry, "
                    "or refused with 400 under Prefer: handling=strict. Paging links carry a "
                    "signed cursor."
                ),
                "searchParam": [
                    {"name": code, "type": kind, "documentation": text}
                    for code, kind, text in _COMMON_PARAMS
                ],
                "resource": [_resource_entry(t, profiles, canonical) for t in RESOURCE_TYPES],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
            }
        ],
    }


def capability_bytes(base: str) -> bytes:
    """The CapabilityStatement as JSON, built once per base URL (it is a few hundred KB)."""
    return _capability_bytes(base, canonical_base())


@lru_cache(maxsize=8)
def _capability_bytes(base: str, canonical: str) -> bytes:
    return orjson.dumps(capability_statement(base, canonical))
