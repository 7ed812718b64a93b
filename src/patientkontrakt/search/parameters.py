"""The SearchParameter registry, loaded once from `fhir_profiles/` (data, not code).

R4's own definitions come from `fhir_profiles/r4/search-parameters.json`; the product's own
SearchParameters are the JSON files in `fhir_profiles/search-parameters/`. Each parameter's
FHIRPath expression is compiled once into an extractor (`expressions.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from patientkontrakt.canonical import canonical_base, profiles_dir, rebase
from patientkontrakt.fhir.registry import RESOURCE_TYPES
from patientkontrakt.search.expressions import Extractor, compile_expression

INDEXED_TYPES = frozenset({"token", "string", "reference", "date", "number", "quantity", "uri"})
"""Parameter types with an index table; composite and special ones are not supported."""

RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_page",
        "_format",
        "_pretty",
        "_type",
    }
)
"""Parameters that shape the result rather than filter it (search.html#return)."""


@dataclass(frozen=True)
class SearchParameter:
    """One search parameter of one resource type."""

    code: str
    type: str
    resource_type: str
    expression: str
    url: str
    description: str
    targets: tuple[str, ...] = ()
    extract: Extractor = field(compare=False, repr=False, default=lambda _r: [])


class ParameterRegistry:
    """Search parameters by resource type and code."""

    def __init__(self, definitions: list[dict[str, Any]]) -> None:
        self._by_type: dict[str, dict[str, SearchParameter]] = {t: {} for t in RESOURCE_TYPES}
        for definition in definitions:
            if definition.get("type") not in INDEXED_TYPES or not definition.get("expression"):
                continue
            for base in definition.get("base", []):
                types = RESOURCE_TYPES if base in ("Resource", "DomainResource") else (base,)
                for resource_type in types:
                    if resource_type in self._by_type:
                        self._add(definition, resource_type)
        # Sorted once: every write asks for its type's parameters to index it.
        self._sorted = {
            t: tuple(sorted(by_code.values(), key=lambda p: p.code))
            for t, by_code in self._by_type.items()
        }

    def _add(self, definition: dict[str, Any], resource_type: str) -> None:
        code = str(definition["code"])
        expression = str(definition["expression"])
        targets = tuple(t for t in definition.get("target", []) if t in self._by_type)
        self._by_type[resource_type][code] = SearchParameter(
            code=code,
            type=str(definition["type"]),
            resource_type=resource_type,
            expression=expression,
            url=str(definition.get("url", "")),
            description=str(definition.get("description", "")),
            targets=targets,
            extract=compile_expression(expression, resource_type),
        )

    def get(self, resource_type: str, code: str) -> SearchParameter | None:
        """The parameter `code` of `resource_type`, or None."""
        return self._by_type.get(resource_type, {}).get(code)

    def for_type(self, resource_type: str) -> tuple[SearchParameter, ...]:
        """Every parameter of `resource_type`, by code."""
        return self._sorted.get(resource_type, ())


def _definitions(folder: Path) -> list[dict[str, Any]]:
    bundle = orjson.loads((folder / "r4" / "search-parameters.json").read_bytes())
    definitions = [entry["resource"] for entry in bundle["entry"]]
    own = folder / "search-parameters"
    if own.is_dir():
        # The product's own parameters live under the canonical base in use (PK_CANONICAL_BASE).
        base = canonical_base()
        definitions += [
            rebase(orjson.loads(p.read_bytes()), base) for p in sorted(own.glob("*.json"))
        ]
    return definitions


@cache
def registry() -> ParameterRegistry:
    """The process-wide registry, built on first use."""
    return ParameterRegistry(_definitions(profiles_dir()))


@cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Patient compartment: resource type to the parameters that put it in a patient's."""
    definition = orjson.loads(
        (profiles_dir() / "r4" / "compartmentdefinition-patient.json").read_bytes()
    )
    return {r["code"]: tuple(r.get("param", [])) for r in definition["resource"] if r.get("param")}
