"""Profile validation against the product's StructureDefinitions (profiling.html).

A resource is checked against each of the product's profiles it names in `meta.profile`, and
against those a `$validate` call names. A profile URL the server does not know is ignored, as
HAPI FHIR does by default. Each profile is compiled once per canonical base into a rule tree
(`structure.py`) and checked with `checks.py`.

The canonical base is `PK_CANONICAL_BASE`; `create_app` passes its setting to `configure`, and
until then `get_settings()` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from patientkontrakt.canonical import canonical_base
from patientkontrakt.outcomes import Issue
from patientkontrakt.validation.checks import Context, check_resource
from patientkontrakt.validation.definitions import Definitions, canonical_url, definitions
from patientkontrakt.validation.structure import Node, compile_snapshot
from patientkontrakt.validation.terminology import Terminology


@dataclass(frozen=True)
class Profile:
    """One compiled StructureDefinition."""

    url: str
    name: str
    type: str
    kind: str
    root: Node


class ProfileSet:
    """The product's StructureDefinitions under one canonical base, compiled."""

    def __init__(self, source: Definitions) -> None:
        self.definitions = source
        self.terminology = Terminology(source)
        self._profiles: dict[str, Profile] = {}
        for definition in source.of_type("StructureDefinition"):
            url = definition.get("url")
            if not isinstance(url, str) or not definition.get("snapshot"):
                continue
            self._profiles[url] = Profile(
                url=url,
                name=str(definition.get("name") or definition.get("id") or url),
                type=str(definition.get("type", "")),
                kind=str(definition.get("kind", "")),
                root=compile_snapshot(definition, self._target_type),
            )

    def _target_type(self, url: str) -> str | None:
        definition = self.definitions.get(url)
        if definition is None or definition.get("resourceType") != "StructureDefinition":
            return None
        return str(definition.get("type")) if definition.get("type") else None

    def get(self, url: str) -> Profile | None:
        """The compiled profile with canonical `url` (`|version` ignored), or None."""
        return self._profiles.get(canonical_url(url))

    def for_type(self, resource_type: str) -> list[str]:
        """URLs of the product's resource profiles of `resource_type` (for supportedProfile)."""
        return sorted(
            p.url
            for p in self._profiles.values()
            if p.kind == "resource" and p.type == resource_type
        )

    def _root(self, url: str) -> tuple[str, Node] | None:
        profile = self.get(url)
        return None if profile is None else (profile.name, profile.root)

    def check(self, profile: Profile, body: dict[str, Any]) -> list[Issue]:
        """The issues of `body` against one profile."""
        context = Context(body, self.terminology, self._root, profile.name)
        return check_resource(profile.root, body, context)

    def issues(
        self, resource_type: str, body: dict[str, Any], extra: Iterable[str] = ()
    ) -> list[Issue]:
        """The issues of `body` against the known profiles it claims, and `extra` ones."""
        issues: list[Issue] = []
        done: set[str] = set()
        for url in [*claimed_profiles(body), *extra]:
            profile = self.get(url)
            if profile is None or profile.url in done:
                continue
            done.add(profile.url)
            if profile.kind != "resource" or profile.type != resource_type:
                issues.append(
                    Issue(
                        "invalid",
                        f"{resource_type}: profile {profile.url} is for {profile.type}, "
                        f"not {resource_type}",
                        expression=(f"{resource_type}.meta.profile",),
                    )
                )
                continue
            issues.extend(self.check(profile, body))
        return issues


def claimed_profiles(body: dict[str, Any]) -> list[str]:
    """The URLs in `meta.profile`."""
    meta = body.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in profiles if isinstance(p, str)] if isinstance(profiles, list) else []


@cache
def profile_set(base: str) -> ProfileSet:
    """The compiled profiles under `base`, built once per process and base."""
    return ProfileSet(definitions(base))


def active() -> ProfileSet:
    """The compiled profiles under the canonical base in use."""
    return profile_set(canonical_base())


def profile_issues(
    resource_type: str, body: dict[str, Any], extra: Sequence[str] = ()
) -> list[Issue]:
    """The issues of `body` against the product profiles it claims (and `extra` ones)."""
    if not extra and not claimed_profiles(body):
        return []
    return active().issues(resource_type, body, extra)
