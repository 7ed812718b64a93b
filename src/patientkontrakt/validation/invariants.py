"""FHIRPath invariants (`ElementDefinition.constraint`) evaluated with fhirpathpy.

Each expression is parsed once, on first use. An invariant holds unless it evaluates to `false`:
an empty result (for instance comparing dates of different precision) passes, as in the FHIR
validator. fhirpathpy 2.2.4 lacks `hasValue()` (used by `per-1` and others), provided here; an
expression needing what it still lacks (`htmlChecks()`, `resolve()`, `conformsTo()`,
`memberOf()`) cannot be evaluated and is skipped, logged once; dom-3 is evaluated natively.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type, ResourceNode
from fhirpathpy.models import models

log = logging.getLogger(__name__)

SKIPPED_KEYS = frozenset({"ele-1"})
"""`ele-1` (every element has a value or children) is on every element of every snapshot and
is already enforced for the whole body by the JSON rules of `validation/base.py`."""

CONTAINED_KEYS = frozenset({"dom-2", "dom-3", "dom-4", "dom-5"})
"""R4's DomainResource invariants on `contained`: each holds when there is nothing contained,
so they are evaluated only when there is (dom-3 alone costs more than the rest of a check)."""


@dataclass(frozen=True)
class Invariant:
    """One constraint with severity `error`."""

    key: str
    human: str
    expression: str


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and (
        isinstance(inputs[0], FP_Type) or not isinstance(inputs[0], dict | list)
    )


def _ignore_trace(_label: Any, _value: Any) -> None:
    """fhirpathpy prints `trace()` output (dom-3 uses it) unless given a function."""


_OPTIONS = {
    "userInvocationTable": {"hasValue": {"fn": _has_value}},
    "traceFn": _ignore_trace,
}
_R4 = models["r4"]
_compiled: dict[str, Callable[..., list[Any]] | None] = {}
_reported: set[str] = set()


def _compile(expression: str) -> Callable[..., list[Any]] | None:
    if expression not in _compiled:
        try:
            _compiled[expression] = fhirpathpy.compile(expression, _R4, _OPTIONS)
        except Exception as exc:
            _report(expression, exc)
            _compiled[expression] = None
    return _compiled[expression]


def _report(expression: str, exc: Exception) -> None:
    if expression not in _reported:
        _reported.add(expression)
        log.warning("invariant not evaluated (%.200s): %s", exc, expression)


def _dom_3(resource: dict[str, Any]) -> bool:
    """dom-3, every contained resource is referenced from the resource or another contained one
    (or refers to its container, `#`). fhirpathpy cannot evaluate R4's expression: its `as()`
    refuses the collections `descendants()` gives."""
    contained = resource.get("contained", [])
    references = set(_local_references(resource))
    if "#" in references:
        return True
    return all(f"#{r.get('id')}" in references for r in contained if isinstance(r, dict))


def _local_references(value: Any) -> Iterator[str]:
    """Every string starting with `#` (references, canonicals and uris to contained ones)."""
    if isinstance(value, str):
        if value.startswith("#"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _local_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _local_references(item)


_NATIVE: dict[str, Callable[[dict[str, Any]], bool]] = {"dom-3": _dom_3}


def holds(invariant: Invariant, focus: Any, type_path: str, resource: dict[str, Any]) -> bool:
    """False only when `invariant` evaluates to false on `focus` (of type `type_path`)."""
    if invariant.key in CONTAINED_KEYS and not (isinstance(focus, dict) and "contained" in focus):
        return True
    native = _NATIVE.get(invariant.key)
    if native is not None and isinstance(focus, dict):
        return native(focus)
    evaluate = _compile(invariant.expression)
    if evaluate is None:
        return True
    node = ResourceNode.create_node(focus, type_path)  # type: ignore[no-untyped-call]
    try:
        result = evaluate(node, {"resource": resource, "rootResource": resource})
    except Exception as exc:
        _report(invariant.expression, exc)
        return True
    return result != [False]
