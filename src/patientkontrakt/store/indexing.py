"""Search index values extracted from a resource at write time.

For now the token index holds `identifier` (the criterion conditional interactions use); the
search engine extends this from the SearchParameter registry.
"""

from __future__ import annotations

from typing import Any

from patientkontrakt.outcomes import FhirError, Issue

MAX_TOKEN_LENGTH = 512
"""Longest identifier system or value kept; longer ones are refused, not silently cut."""


def token_rows(resource_type: str, resource_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Token index rows for `body`: one per identifier with a value."""
    rows: list[dict[str, Any]] = []
    identifiers = body.get("identifier")
    if isinstance(identifiers, dict):  # a few types have a single identifier (0..1)
        identifiers = [identifiers]
    if not isinstance(identifiers, list):
        return rows
    seen: set[tuple[str | None, str]] = set()
    for identifier in identifiers:
        if not isinstance(identifier, dict):
            continue
        value = identifier.get("value")
        if not isinstance(value, str) or not value:
            continue
        system = identifier.get("system")
        key = (system if isinstance(system, str) else None, value)
        if len(value) > MAX_TOKEN_LENGTH or len(key[0] or "") > MAX_TOKEN_LENGTH:
            where = f"{resource_type}.identifier"
            raise FhirError(
                422,
                [
                    Issue(
                        "too-long",
                        f"{where}: system and value may hold at most {MAX_TOKEN_LENGTH} characters",
                        expression=(where,),
                    )
                ],
            )
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "resource_type": resource_type,
                "resource_id": resource_id,
                "param": "identifier",
                "system": key[0],
                "code": value,
            }
        )
    return rows
