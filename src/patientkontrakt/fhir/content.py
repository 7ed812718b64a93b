"""Content negotiation and FHIR JSON responses built from stored bytes.

The server speaks `application/fhir+json` (and accepts `application/json`); `_format` overrides
Accept (http.html#mime-type). Bodies are read with a size limit before they are parsed.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from patientkontrakt.outcomes import FhirError, bad_request, error

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
_JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_ACCEPTABLE = _JSON_TYPES | {"*/*", "application/*"}
_FORMATS = _JSON_TYPES | {"json"}


class FhirResponse(Response):
    """A response whose body is FHIR JSON bytes."""

    media_type = f"{FHIR_JSON}; charset=utf-8"


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def check_acceptable(request: Request) -> None:
    """406 unless the client accepts FHIR JSON (by `_format`, or else by Accept)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if _media_type(fmt) not in _FORMATS:
            raise error(406, "not-supported", f"_format={fmt} is not supported; use json")
        return
    accept = request.headers.get("accept")
    if not accept:
        return
    if any(
        _media_type(part) in _ACCEPTABLE and not _quality_zero(part) for part in accept.split(",")
    ):
        return
    raise error(406, "not-supported", f"Cannot produce {accept}; this server produces {FHIR_JSON}")


def _quality_zero(part: str) -> bool:
    """True for an Accept member with `q=0`, which means "not acceptable" (RFC 9110 12.4.2)."""
    for param in part.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip()) == 0
            except ValueError:
                return False
    return False


def pretty_requested(request: Request) -> bool:
    """True for `_pretty=true`."""
    return request.query_params.get("_pretty") == "true"


def render(body: bytes, request: Request | None) -> bytes:
    """The body as sent: stored bytes, indented when `_pretty=true`."""
    if request is not None and pretty_requested(request):
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    return body


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; `orjson.Fragment`s inside are stored bytes passed through."""
    return orjson.dumps(value)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 once it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> FhirError:
    return error(413, "too-costly", f"Request body is larger than the limit of {limit} bytes")


def require_content_type(request: Request, allowed: frozenset[str]) -> None:
    """415 unless the request's Content-Type is one of `allowed`."""
    given = request.headers.get("content-type")
    if given is None or _media_type(given) not in allowed:
        raise error(
            415,
            "not-supported",
            f"Content-Type {given or '(none)'} is not supported here; "
            f"use {' or '.join(sorted(allowed))}",
        )


JSON_CONTENT_TYPES = _JSON_TYPES
PATCH_CONTENT_TYPES = frozenset({JSON_PATCH})
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded"})


def parse_json_object(body: bytes, what: str = "resource") -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON or not an object."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise bad_request(f"Body must be a JSON object holding a {what}")
    return value
