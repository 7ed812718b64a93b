"""The product's conformance resources, read once from `fhir_profiles/` and keyed by canonical URL.

`fhir_profiles/` is written with `DEFAULT_CANONICAL_BASE`; with `PK_CANONICAL_BASE` set to
another base, every URL in the files that starts with the default base is rewritten to it by
`rebase`, the one function both validation and the served copies use, so the profiles a server
checks are exactly the ones it publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from patientkontrakt.canonical import profiles_dir, rebase
from patientkontrakt.contract.vocabulary import DEFAULT_CANONICAL_BASE

FOLDERS: Mapping[str, str] = {
    "StructureDefinition": "StructureDefinition",
    "CodeSystem": "CodeSystem",
    "ValueSet": "ValueSet",
    "SearchParameter": "search-parameters",
}
"""Resource type to its folder under `fhir_profiles/` (one resource, or a Bundle, per file)."""


def canonical_url(url: str) -> str:
    """A canonical reference without its `|version` (and `#fragment`) part."""
    return url.split("|", 1)[0].split("#", 1)[0]


@dataclass(frozen=True)
class Definitions:
    """The conformance resources under one canonical base."""

    base: str
    resources: tuple[dict[str, Any], ...]
    by_url: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, url: str) -> dict[str, Any] | None:
        """The resource with canonical `url` (a `|version` suffix is ignored), or None."""
        return self.by_url.get(canonical_url(url))

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        """The resources of one type, in file order."""
        return [r for r in self.resources if r.get("resourceType") == resource_type]


def _read_folder(folder: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        value = orjson.loads(path.read_bytes())
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            out.extend(e["resource"] for e in value.get("entry", []) if "resource" in e)
        elif isinstance(value, dict):
            out.append(value)
    return out


@cache
def _files(folder: Path) -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    for resource_type, name in FOLDERS.items():
        found.extend(
            r for r in _read_folder(folder / name) if r.get("resourceType") == resource_type
        )
    return tuple(found)


def load(folder: Path, base: str = DEFAULT_CANONICAL_BASE) -> Definitions:
    """The conformance resources in `folder` (a `fhir_profiles/`-like tree) under `base`."""
    resources = tuple(rebase(list(_files(folder)), base))
    by_url = {str(r["url"]): r for r in resources if isinstance(r.get("url"), str)}
    return Definitions(base.rstrip("/"), resources, by_url)


@cache
def definitions(base: str = DEFAULT_CANONICAL_BASE) -> Definitions:
    """The product's conformance resources under `base`, read once per process."""
    return load(profiles_dir(), base)
