"""The FHIRPath subset that R4 SearchParameter expressions use, compiled to plain Python.

Search expressions are paths (`CarePlan.activity.detail.performer`), unions (`|`), choice types
(`Observation.value.ofType(Quantity)`), reference filters (`.where(resolve() is Patient)`) and
element filters (`.where(system='email')`). General FHIRPath engines are slow per write and lack
`resolve()`; this compiles each expression once into steps over the resource's JSON. A test
checks that every expression in `fhir_profiles/` compiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from patientkontrakt.fhir.registry import CHOICE_TYPE_NAMES

Extractor = Callable[[dict[str, Any]], list[Any]]

_WHERE_RESOLVE = re.compile(r"where\(resolve\(\) is ([A-Za-z]+)\)")
_WHERE_EQUALS = re.compile(r"where\(([A-Za-z]+)\s*=\s*'([^']*)'\)")
_OF_TYPE = re.compile(r"ofType\(([A-Za-z]+)\)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnsupportedExpressionError(ValueError):
    """An expression outside the supported subset."""


@dataclass(frozen=True)
class _Step:
    kind: str  # "field", "resolve-is", "equals"
    name: str
    value: str = ""


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(current)
            current = ""
            i += len(separator)
            continue
        current += ch
        i += 1
    parts.append(current)
    return [p.strip() for p in parts]


def _choice_name(name: str, type_name: str) -> str:
    return name + type_name[0].upper() + type_name[1:]


def _compile_path(path: str) -> tuple[str, list[_Step]]:
    segments = _split(path, ".")
    if not segments or not _NAME.fullmatch(segments[0]):
        raise UnsupportedExpressionError(path)
    base = segments[0]
    steps: list[_Step] = []
    for segment in segments[1:]:
        if match := _WHERE_RESOLVE.fullmatch(segment):
            steps.append(_Step("resolve-is", match.group(1)))
        elif match := _WHERE_EQUALS.fullmatch(segment):
            steps.append(_Step("equals", match.group(1), match.group(2)))
        elif match := _OF_TYPE.fullmatch(segment):
            if not steps or steps[-1].kind != "field":
                raise UnsupportedExpressionError(path)
            previous = steps.pop()
            steps.append(_Step("field", _choice_name(previous.name, match.group(1))))
        elif _NAME.fullmatch(segment):
            steps.append(_Step("field", segment))
        else:
            raise UnsupportedExpressionError(path)
    return base, steps


def _reference_type(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str):
        return None
    parts = reference.split("?")[0].split("/")
    # Type/id, Type/id/_history/n, or an absolute URL ending so.
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-2] if len(parts) >= 2 else None


def _field_values(node: dict[str, Any], name: str) -> list[Any]:
    if name in node:
        value = node[name]
        return value if isinstance(value, list) else [value]
    # A choice element (`scheduled` for scheduledPeriod, scheduledString, ...).
    values: list[Any] = []
    for key, value in node.items():
        if key.startswith(name) and key[len(name) :] in CHOICE_TYPE_NAMES:
            values.extend(value if isinstance(value, list) else [value])
    return values


def _apply(steps: list[_Step], nodes: list[Any]) -> list[Any]:
    for step in steps:
        following: list[Any] = []
        for node in nodes:
            if step.kind == "field":
                if isinstance(node, dict):
                    following.extend(_field_values(node, step.name))
            elif step.kind == "resolve-is":
                if _reference_type(node) == step.name:
                    following.append(node)
            elif isinstance(node, dict) and node.get(step.name) == step.value:
                following.append(node)
        nodes = following
    return [n for n in nodes if n is not None]


def _deceased(resource: dict[str, Any]) -> list[Any]:
    # `Patient.deceased.exists() and Patient.deceased != false`
    if "deceasedDateTime" in resource:
        return [True]
    value = resource.get("deceasedBoolean")
    return [value is True] if value is not None else [False]


_SPECIAL: dict[str, Extractor] = {
    "Patient.deceased.exists() and Patient.deceased != false": _deceased,
}


def compile_expression(expression: str, resource_type: str) -> Extractor:
    """An extractor of the values `expression` selects from a resource of `resource_type`.

    Union members rooted in other types (`Patient.name | Practitioner.name`) are dropped;
    `Resource.x` and `DomainResource.x` apply to every type.
    """
    if expression in _SPECIAL:
        return _SPECIAL[expression]
    members: list[Extractor] = []
    for part in _split(expression, "|"):
        member = _compile_member(part, resource_type)
        if member is not None:
            members.append(member)

    def extract(resource: dict[str, Any]) -> list[Any]:
        values: list[Any] = []
        for member in members:
            values.extend(member(resource))
        return values

    return extract


def _matching_parenthesis(text: str) -> int:
    depth = 0
    quoted = False
    for index, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                return index
    raise UnsupportedExpressionError(text)


def _compile_member(part: str, resource_type: str) -> Extractor | None:
    if part.startswith("("):
        # `(inner).rest`: the steps after the parentheses apply to what `inner` selects.
        close = _matching_parenthesis(part)
        inner = compile_expression(part[1:close], resource_type)
        rest = part[close + 1 :].lstrip(".")
        _, steps = _compile_path("X." + rest) if rest else ("X", [])
        return lambda resource: _apply(steps, inner(resource))
    base, steps = _compile_path(part)
    if base not in (resource_type, "Resource", "DomainResource"):
        return None
    return lambda resource: _apply(steps, [resource])
