"""Log lines without personal data: exception messages and request targets are withheld.

A personnummer can reach a log line by many roads: an exception message that quotes a value,
a database error that quotes a statement, an HTTP parser error that quotes the request line,
an access-log line with the query string. The service logs none of these: an error is logged
with its exception type and traceback frames (file, line, function, source line) only, and an
access line (when a server writes one) with its path reduced to resource types and keywords.
"""

from __future__ import annotations

import logging
import traceback
from urllib.parse import urlsplit

from patientkontrakt.fhir.registry import is_resource_type

WITHHELD = "(message withheld: it may hold personal data)"

# Path segments kept in access lines besides resource types and `_x`, `$x`, `.x` segments.
_KEPT_SEGMENTS = frozenset({"", "fhir", "metadata", "smart-configuration", "healthz"})

# uvicorn's access line: '%s - "%s %s HTTP/%s" %d' with (client, method, target, version, status).
_ACCESS_TARGET_ARG = 2
_ACCESS_ARGS = 5


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of `exc` and of the exceptions it was raised from, each message withheld."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for index, item in enumerate(reversed(chain)):
        if index:
            parts.append("\nwhich led to:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        kind = type(item)
        parts.append(f"{kind.__module__}.{kind.__qualname__} {WITHHELD}\n")
    return "".join(parts).rstrip("\n")


def redacted_target(target: str) -> str:
    """A request path without its query string, each segment that may be an id replaced by `*`.

    `/fhir/Patient/191212121212/_history/2?x=y` becomes `/fhir/Patient/*/_history/*`.
    """
    path = urlsplit(target).path
    return "/".join(
        segment
        if segment in _KEPT_SEGMENTS
        or segment.startswith(("_", "$", "."))
        or is_resource_type(segment)
        else "*"
        for segment in path.split("/")
    )


class ExceptionRedactingFilter(logging.Filter):
    """Replaces a record's exception by `redacted_traceback` of it, so no handler formats the
    exception's message (uvicorn logs "Exception in ASGI application" with the full one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redacted_traceback(record.exc_info[1])
            record.exc_info = None
        return True


class AccessTargetFilter(logging.Filter):
    """Reduces the request target of uvicorn access lines to `redacted_target` of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
            target = args[_ACCESS_TARGET_ARG]
            if isinstance(target, str):
                record.args = (*args[:_ACCESS_TARGET_ARG], redacted_target(target), *args[3:])
        return True


def _add_once(logger: logging.Logger, log_filter: logging.Filter) -> None:
    if not any(type(existing) is type(log_filter) for existing in logger.filters):
        logger.addFilter(log_filter)


def install() -> None:
    """Attach the filters to uvicorn's loggers (idempotent; safe under any ASGI server).

    `uvicorn.error` carries uvicorn's own error lines, including tracebacks of exceptions that
    escape the app and parser errors quoting the request line; `uvicorn.access` the access log,
    which `patientkontrakt serve` turns off but a bare `uvicorn` command would write.
    """
    _add_once(logging.getLogger("uvicorn.error"), ExceptionRedactingFilter())
    _add_once(logging.getLogger("uvicorn.access"), AccessTargetFilter())
