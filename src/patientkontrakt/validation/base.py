"""Base-model validation of a resource with the fhir.resources R4B models.

The models are lenient about JSON kinds (they turn `"true"` into `true`), while the store keeps
and serves the client's own JSON; so after the model accepts a resource, its JSON is also checked
against the model's view of it, kind by kind, and FHIR JSON's own rules (no empty strings, objects
or arrays, no nulls outside primitive arrays) are enforced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from patientkontrakt.fhir.registry import model_class
from patientkontrakt.outcomes import FhirError, Issue
from patientkontrakt.validation.identifiers import identifier_issues
from patientkontrakt.validation.profiles import profile_issues

_NUMBER = (int, float, Decimal)


def validate_resource(
    resource_type: str, body: dict[str, Any], *, profiles: Sequence[str] = ()
) -> None:
    """Raise a 422 FhirError with one issue per problem when `body` is not a valid resource.

    After the base model, the Swedish identifiers are checked (`identifiers.py`), and the
    product profiles the resource claims in `meta.profile`, plus `profiles`, are
    (`profiles.py`).
    """
    issues = _json_rule_issues(body, resource_type)
    if issues:
        raise FhirError(422, issues)
    try:
        model = model_class(resource_type).model_validate(body)
    except ValidationError as exc:
        raise FhirError(422, [_issue(resource_type, e) for e in exc.errors()]) from exc
    except (ValueError, TypeError) as exc:
        raise FhirError(422, [Issue("structure", str(exc), expression=(resource_type,))]) from exc
    issues = _kind_issues(body, model, resource_type)
    if issues:
        raise FhirError(422, issues)
    issues = identifier_issues(resource_type, body) + profile_issues(resource_type, body, profiles)
    if issues:
        raise FhirError(422, issues)


def _issue(resource_type: str, err: Any) -> Issue:
    path = resource_type
    for part in err.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",) and not str(part).startswith(("function-", "json-")):
            path += f".{part}"
    message = str(err.get("msg", "invalid"))
    code = "structure" if err.get("type") == "extra_forbidden" else "value"
    if err.get("type") == "extra_forbidden":
        message = "Unknown element"
    elif err.get("type") in ("missing", "model_field_validation.missing"):  # fhir.resources
        code = "required"
    return Issue(code, f"{path}: {message}", expression=(path,))


def _json_rule_issues(value: Any, path: str) -> list[Issue]:
    issues: list[Issue] = []
    if isinstance(value, dict):
        if not value:
            issues.append(
                Issue("value", f"{path}: empty objects are not allowed", expression=(path,))
            )
        for key, item in value.items():
            child = f"{path}.{key}"
            if item is None:
                issues.append(Issue("value", f"{child}: null is not allowed", expression=(child,)))
            else:
                issues.extend(_json_rule_issues(item, child))
    elif isinstance(value, list):
        if not value:
            issues.append(
                Issue("value", f"{path}: empty arrays are not allowed", expression=(path,))
            )
        for index, item in enumerate(value):
            if item is not None:  # nulls hold places in primitive arrays with extensions
                issues.extend(_json_rule_issues(item, f"{path}[{index}]"))
    elif isinstance(value, str) and not value.strip():
        issues.append(
            Issue("value", f"{path}: empty or blank strings are not allowed", expression=(path,))
        )
    elif isinstance(value, str) and "\x00" in value:
        issues.append(Issue("value", f"{path}: NUL characters are not allowed", expression=(path,)))
    return issues


@cache
def _fields(model_type: type[BaseModel]) -> dict[str, tuple[str, frozenset[str] | None]]:
    """JSON name to (attribute name, codes of its required binding or None).

    `class` is `class_fhir` in the models; codes come from the R4 value sets that a code
    element is bound to with strength `required`, which the models list but do not enforce.
    A list ending in "+" is cut short (the code system is a hierarchy, like observation-status
    with `corrected` under `amended`), so it is not checked rather than refusing valid codes.
    """
    fields: dict[str, tuple[str, frozenset[str] | None]] = {}
    for name, info in model_type.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        codes = extra.get("enum_values")
        allowed = None
        if isinstance(codes, list) and "+" not in codes:
            allowed = frozenset(str(c) for c in codes)
        fields[info.alias or name] = (name, allowed)
    return fields


def _kind_issues(given: Any, model_view: Any, path: str) -> list[Issue]:
    # Walks the model instance itself: dumping it first would cost more than validating.
    if isinstance(given, dict) and isinstance(model_view, BaseModel):
        out: list[Issue] = []
        fields = _fields(type(model_view))
        for key, item in given.items():
            field = fields.get(key)
            if field is None:
                continue
            name, allowed = field
            if allowed is not None:
                out.extend(_code_issues(item, allowed, f"{path}.{key}"))
            out.extend(_kind_issues(item, getattr(model_view, name), f"{path}.{key}"))
        return out
    if isinstance(given, list) and isinstance(model_view, list):
        out = []
        for index, (item, seen) in enumerate(zip(given, model_view, strict=False)):
            out.extend(_kind_issues(item, seen, f"{path}[{index}]"))
        return out
    expected = _json_kind(model_view)
    if expected is not None and expected != _json_kind(given):
        return [Issue("value", f"{path}: expected a JSON {expected}", expression=(path,))]
    return []


def _code_issues(given: Any, allowed: frozenset[str], path: str) -> list[Issue]:
    values = given if isinstance(given, list) else [given]
    return [
        Issue(
            "code-invalid",
            f"{path}: '{value}' is not one of the codes its required value set allows "
            f"({', '.join(sorted(allowed))})",
            expression=(path,),
        )
        for value in values
        if isinstance(value, str) and value not in allowed
    ]


def _json_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str | dt.date | dt.time):
        return "string"
    return None
