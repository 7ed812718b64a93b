"""Expansions of the product's ValueSets from the product's CodeSystems, for required bindings.

Only what can be expanded from the product's own content is: `compose.include` entries with a
`concept` list, whole product CodeSystems, and other product ValueSets. A value set that needs
an external terminology (all of SNOMED CT, a `filter`) has no expansion here, and a binding to it
is not checked (as a terminology-less validator does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from patientkontrakt.validation.definitions import Definitions, canonical_url


@dataclass(frozen=True)
class Expansion:
    """The (system, code) pairs of a value set, and the bare codes for `code` elements."""

    pairs: frozenset[tuple[str, str]]

    @property
    def codes(self) -> frozenset[str]:
        """The codes without their systems."""
        return frozenset(code for _, code in self.pairs)

    def has_coding(self, system: Any, code: Any) -> bool:
        """True if the Coding (system, code) is in the value set."""
        return (system, code) in self.pairs


class Terminology:
    """Expansions, computed once per value set."""

    def __init__(self, definitions: Definitions) -> None:
        self._definitions = definitions
        self._cache: dict[str, Expansion | None] = {}

    def expansion(self, value_set: str) -> Expansion | None:
        """The expansion of `value_set`, or None when it is not a product value set or needs
        content this server does not have."""
        url = canonical_url(value_set)
        if url not in self._cache:
            self._cache[url] = None  # a value set that includes itself expands to nothing
            self._cache[url] = self._expand(url)
        return self._cache[url]

    def _expand(self, url: str) -> Expansion | None:
        resource = self._definitions.get(url)
        if resource is None or resource.get("resourceType") != "ValueSet":
            return None
        compose = resource.get("compose")
        if not isinstance(compose, dict):
            contains = resource.get("expansion", {}).get("contains")
            if not isinstance(contains, list):
                return None
            return Expansion(frozenset(_contained(contains)))
        included: set[tuple[str, str]] = set()
        for include in compose.get("include", []):
            pairs = self._include(include)
            if pairs is None:
                return None
            included |= pairs
        for exclude in compose.get("exclude", []):
            pairs = self._include(exclude)
            if pairs is not None:
                included -= pairs
        return Expansion(frozenset(included))

    def _include(self, include: dict[str, Any]) -> set[tuple[str, str]] | None:
        if include.get("filter"):
            return None
        system = include.get("system")
        pairs: set[tuple[str, str]] | None = None
        if isinstance(system, str):
            concepts = include.get("concept")
            if isinstance(concepts, list):
                pairs = {(system, str(c["code"])) for c in concepts if "code" in c}
            else:
                pairs = self._whole_system(system)
                if pairs is None:
                    return None
        for other in include.get("valueSet", []):
            expansion = self.expansion(other)
            if expansion is None:
                return None
            pairs = set(expansion.pairs) if pairs is None else pairs & expansion.pairs
        return pairs

    def _whole_system(self, system: str) -> set[tuple[str, str]] | None:
        code_system = self._definitions.get(system)
        if code_system is None or code_system.get("resourceType") != "CodeSystem":
            return None
        if code_system.get("content", "complete") != "complete":
            return None
        return {(system, code) for code in _codes(code_system.get("concept", []))}


def _codes(concepts: list[dict[str, Any]]) -> Iterator[str]:
    for concept in concepts:
        if "code" in concept:
            yield str(concept["code"])
        yield from _codes(concept.get("concept", []))


def _contained(contains: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for item in contains:
        if "system" in item and "code" in item:
            yield str(item["system"]), str(item["code"])
        yield from _contained(item.get("contains", []))
