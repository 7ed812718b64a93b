"""A StructureDefinition's snapshot compiled into a tree of element rules, once per profile.

The tree follows the element ids (`CarePlan.identifier:hsa.system`): each node holds the
children defined below it and, when the element is sliced, its slices, each a node with its own
children. Checking an instance (`checks.py`) then walks the instance and the tree side by side,
without looking at the snapshot's JSON again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from patientkontrakt.validation.definitions import canonical_url
from patientkontrakt.validation.invariants import SKIPPED_KEYS, Invariant

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
_ANY_TARGET = frozenset({"Resource", "DomainResource"})
_UNTYPED = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True)
class Constant:
    """A `fixed[x]` (the value exactly) or `pattern[x]` (the instance contains it)."""

    kind: Literal["fixed", "pattern"]
    value: Any


@dataclass(frozen=True)
class Discriminator:
    """One `slicing.discriminator`: its type (value, pattern, exists, type, profile) and path."""

    type: str
    path: str


@dataclass(frozen=True)
class Slicing:
    """How an element's repetitions are told apart, and whether others may appear."""

    discriminators: tuple[Discriminator, ...]
    rules: str


@dataclass
class Node:
    """The rules of one element (or one slice of it) of a profile."""

    path: str
    name: str
    slice_name: str | None
    min: int
    max: int | None
    types: tuple[str, ...] = ()
    type_profiles: tuple[str, ...] = ()
    target_types: frozenset[str] | None = None
    constant: Constant | None = None
    binding: str | None = None
    invariants: tuple[Invariant, ...] = ()
    slicing: Slicing | None = None
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        """True for a choice element such as `value[x]`."""
        return self.name.endswith("[x]")

    @property
    def json_name(self) -> str:
        """The name without `[x]`: `value` for `value[x]`."""
        return self.name[:-3] if self.is_choice else self.name

    @property
    def fhirpath_type(self) -> str:
        """What fhirpathpy should take the element to be: a datatype or the element's path."""
        complex_types = [t for t in self.types if t[:1].isupper() and t not in _UNTYPED]
        if len(self.types) == 1 and complex_types:
            return complex_types[0]
        return self.path

    def label(self) -> str:
        """`name` or `name:slice`."""
        return f"{self.name}:{self.slice_name}" if self.slice_name else self.name


TargetResolver = Callable[[str], str | None]
"""A profile URL to the resource type it constrains, or None when not known."""


def compile_snapshot(definition: dict[str, Any], resolve_target: TargetResolver) -> Node:
    """The rule tree of a StructureDefinition with a snapshot."""
    elements = definition.get("snapshot", {}).get("element", [])
    if not elements:
        raise ValueError(f"StructureDefinition {definition.get('url')} has no snapshot")
    root = _node(elements[0], str(elements[0]["path"]), None, resolve_target)
    for element in elements[1:]:
        segments = str(element.get("id") or element["path"]).split(".")
        parent: Node | None = root
        for segment in segments[1:-1]:
            parent = _step(parent, segment)
        if parent is None:
            continue  # below an element the snapshot does not define (never in a valid one)
        name, _, slice_name = segments[-1].partition(":")
        node = _node(element, name, slice_name or None, resolve_target)
        if slice_name:
            base = parent.children.get(name)
            if base is not None:
                # The base element's invariants already ran on every member: keep the slice's own.
                inherited = {i.key for i in base.invariants}
                node.invariants = tuple(i for i in node.invariants if i.key not in inherited)
                base.slices[slice_name] = node
        else:
            parent.children[name] = node
    return root


def _step(parent: Node | None, segment: str) -> Node | None:
    if parent is None:
        return None
    name, _, slice_name = segment.partition(":")
    child = parent.children.get(name)
    if child is None or not slice_name:
        return child
    return child.slices.get(slice_name)


def _node(
    element: dict[str, Any], name: str, slice_name: str | None, resolve_target: TargetResolver
) -> Node:
    types = element.get("type", [])
    maximum = str(element.get("max", "*"))
    return Node(
        path=str(element["path"]),
        name=name,
        slice_name=slice_name,
        min=int(element.get("min", 0)),
        max=None if maximum == "*" else int(maximum),
        types=tuple(str(t.get("code", "")) for t in types),
        type_profiles=tuple(canonical_url(p) for t in types for p in t.get("profile", [])),
        target_types=_target_types(types, resolve_target),
        constant=_constant(element),
        binding=_required_binding(element),
        invariants=_invariants(element),
        slicing=_slicing(element),
    )


def _constant(element: dict[str, Any]) -> Constant | None:
    for key, value in element.items():
        if key.startswith("fixed"):
            return Constant("fixed", value)
        if key.startswith("pattern"):
            return Constant("pattern", value)
    return None


def _required_binding(element: dict[str, Any]) -> str | None:
    binding = element.get("binding")
    if not isinstance(binding, dict) or binding.get("strength") != "required":
        return None
    value_set = binding.get("valueSet")
    return canonical_url(value_set) if isinstance(value_set, str) else None


def _invariants(element: dict[str, Any]) -> tuple[Invariant, ...]:
    return tuple(
        Invariant(str(c["key"]), str(c.get("human", "")), str(c["expression"]))
        for c in element.get("constraint", [])
        if c.get("severity") == "error" and c.get("expression") and c.get("key") not in SKIPPED_KEYS
    )


def _slicing(element: dict[str, Any]) -> Slicing | None:
    slicing = element.get("slicing")
    if not isinstance(slicing, dict):
        return None
    discriminators = tuple(
        Discriminator(str(d.get("type", "value")), str(d.get("path", "$this")))
        for d in slicing.get("discriminator", [])
    )
    return Slicing(discriminators, str(slicing.get("rules", "open")))


def _target_types(
    types: list[dict[str, Any]], resolve_target: TargetResolver
) -> frozenset[str] | None:
    """The resource types a Reference may point to, or None when any (or unknown) may."""
    targets: set[str] = set()
    for kind in types:
        if kind.get("code") != "Reference":
            continue
        profiles = kind.get("targetProfile", [])
        if not profiles:
            return None
        for profile in profiles:
            url = canonical_url(str(profile))
            target = (
                url.removeprefix(CORE_PREFIX)
                if url.startswith(CORE_PREFIX)
                else resolve_target(url)
            )
            if target is None or target in _ANY_TARGET:
                return None
            targets.add(target)
    return frozenset(targets) or None
