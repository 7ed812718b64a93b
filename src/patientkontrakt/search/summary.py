"""`_summary` and `_elements` (search.html#summary, #elements): subsets of stored resources.

Only these two ever parse a stored resource on a read; the result is tagged SUBSETTED.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from patientkontrakt.fhir.registry import model_class

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


@cache
def _elements_where(resource_type: str, flag: str) -> frozenset[str]:
    fields = model_class(resource_type).model_fields
    names = set()
    for name, info in fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        # A mandatory complex element (CarePlan.subject) has no `element_required` flag: the
        # model simply requires it; a mandatory choice (medication[x]) is `one_of_many_required`.
        required = info.is_required() or extra.get("one_of_many_required")
        if extra.get(flag) or (flag == "element_required" and required):
            names.add(info.alias or name)
    return frozenset(names)


@cache
def _choices(resource_type: str) -> dict[str, str]:
    """JSON name to element name of choice elements: `deceasedBoolean` to `deceased`."""
    fields = model_class(resource_type).model_fields
    found: dict[str, str] = {}
    for name, info in fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if isinstance(extra.get("one_of_many"), str):
            found[info.alias or name] = str(extra["one_of_many"])
    return found


def summary_elements(resource_type: str) -> frozenset[str]:
    """The elements `_summary=true` keeps (isSummary in the R4 definitions)."""
    return _elements_where(resource_type, "summary_element_property")


def required_elements(resource_type: str) -> frozenset[str]:
    """Elements with a minimum cardinality of 1, kept by `_elements` and `_summary=text`."""
    return _elements_where(resource_type, "element_required")


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return resource


def _keep(resource: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    always = {"resourceType", "id", "meta"}
    # A primitive's extension sits in `_name`; it goes where its element goes.
    return {k: v for k, v in resource.items() if k in always or k.lstrip("_") in names}


def subset(content: bytes, summary: str | None, elements: tuple[str, ...]) -> bytes:
    """The stored resource reduced as `_summary`/`_elements` ask, or unchanged."""
    if summary in (None, "false") and not elements:
        return content
    resource = orjson.loads(content)
    resource_type = str(resource.get("resourceType"))
    if summary == "true":
        resource = _keep(resource, summary_elements(resource_type))
    elif summary == "text":
        resource = _keep(resource, required_elements(resource_type) | {"text"})
    elif summary == "data":
        resource.pop("text", None)
    elif elements:
        # `_elements=deceased` names deceased[x], whichever type the resource holds it as.
        wanted = set(elements) | {k for k, v in _choices(resource_type).items() if v in elements}
        resource = _keep(resource, frozenset(wanted) | required_elements(resource_type))
    return orjson.dumps(_tagged(resource))
