"""security/redaction.py: log lines keep exception types, frames and resource types, never
exception messages, query strings or ids."""

from __future__ import annotations

import logging

import pytest

from patientkontrakt.security import redaction
from patientkontrakt.security.redaction import (
    AccessTargetFilter,
    ExceptionRedactingFilter,
    redacted_target,
    redacted_traceback,
)

PERSONNUMMER = "191212121212"
DASHED = f"{PERSONNUMMER[:8]}-{PERSONNUMMER[8:]}"


def fail_with_personal_data() -> None:
    try:
        {}[PERSONNUMMER]
    except KeyError:
        raise ValueError(f"bad identifier {DASHED}") from None


def fail_in_handler() -> None:
    try:
        int(PERSONNUMMER + "x")
    except ValueError:
        raise RuntimeError(PERSONNUMMER)  # noqa: B904 - an implicit __context__ on purpose


def caught(function: object) -> BaseException:
    try:
        function()  # type: ignore[operator]
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


def test_traceback_keeps_types_and_frames_but_no_message() -> None:
    text = redacted_traceback(caught(fail_with_personal_data))
    assert "fail_with_personal_data" in text
    assert "builtins.ValueError (message withheld" in text
    assert "KeyError" not in text  # `from None` suppresses the context
    assert PERSONNUMMER not in text
    assert DASHED not in text


def test_traceback_follows_the_chain() -> None:
    text = redacted_traceback(caught(fail_in_handler))
    assert text.index("builtins.ValueError") < text.index("builtins.RuntimeError")
    assert "which led to" in text
    assert PERSONNUMMER not in text


def test_exception_filter_withholds_the_message_from_any_formatter() -> None:
    exc = caught(fail_with_personal_data)
    record = logging.LogRecord(
        "uvicorn.error",
        logging.ERROR,
        __file__,
        1,
        "Exception in ASGI application\n",
        None,
        (type(exc), exc, exc.__traceback__),
    )
    assert ExceptionRedactingFilter().filter(record)
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert text.startswith("ERROR Exception in ASGI application")
    assert "fail_with_personal_data" in text
    assert PERSONNUMMER not in text
    assert DASHED not in text


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (f"/fhir/Patient?identifier=x|{PERSONNUMMER}", "/fhir/Patient"),
        (f"/fhir/Patient/{PERSONNUMMER}", "/fhir/Patient/*"),
        (f"/fhir/Patient/{DASHED}/_history/2", "/fhir/Patient/*/_history/*"),
        ("/fhir/Patient/abc/$everything?_count=5", "/fhir/Patient/*/$everything"),
        ("/fhir/Patient/abc/CarePlan", "/fhir/Patient/*/CarePlan"),
        ("/fhir/metadata", "/fhir/metadata"),
        ("/fhir/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"),
        ("/fhir/_history", "/fhir/_history"),
        ("/healthz", "/healthz"),
        (f"/{PERSONNUMMER}", "/*"),
    ],
)
def test_target_keeps_types_and_keywords_only(target: str, logged: str) -> None:
    assert redacted_target(target) == logged


def test_access_filter_rewrites_uvicorns_access_line() -> None:
    args = ("127.0.0.1:5000", "GET", f"/fhir/Patient?identifier={PERSONNUMMER}", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert AccessTargetFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /fhir/Patient HTTP/1.1" 200'


def test_install_is_idempotent() -> None:
    redaction.install()
    redaction.install()
    for name, kind in [
        ("uvicorn.error", ExceptionRedactingFilter),
        ("uvicorn.access", AccessTargetFilter),
    ]:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, kind) for f in filters) == 1


def test_uvicorn_error_records_are_redacted_once_installed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redaction.install()
    exc = caught(fail_with_personal_data)
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    assert "fail_with_personal_data" in caplog.text
    assert PERSONNUMMER not in caplog.text
