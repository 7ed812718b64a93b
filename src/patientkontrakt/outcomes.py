"""The one error type of the service, carrying a FHIR OperationOutcome, and its builders.

Every layer raises `FhirError`; exactly one handler in `fhir/errors.py` turns it into a response.
Issue codes follow the IssueType value set (http://hl7.org/fhir/R4/valueset-issue-type.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One `OperationOutcome.issue`."""

    code: str
    diagnostics: str
    severity: Severity = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The issue as FHIR JSON."""
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource holding `issues`."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


@dataclass
class FhirError(Exception):
    """An error a client sees as an HTTP status and an OperationOutcome."""

    status: int
    issues: list[Issue]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome for this error."""
        return operation_outcome(self.issues)


def error(status: int, code: str, diagnostics: str, *expression: str) -> FhirError:
    """A FhirError with a single issue."""
    return FhirError(status, [Issue(code, diagnostics, expression=expression)])


def bad_request(diagnostics: str, *expression: str) -> FhirError:
    """400: the request could not be understood."""
    return error(400, "invalid", diagnostics, *expression)


def unauthorized(code: str, diagnostics: str, challenge: str) -> FhirError:
    """401: no acceptable credentials; `challenge` is the `WWW-Authenticate` header (RFC 6750)."""
    return FhirError(401, [Issue(code, diagnostics)], {"WWW-Authenticate": challenge})


def not_found(diagnostics: str) -> FhirError:
    """404: no such resource, type or route."""
    return error(404, "not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    """410: the resource was deleted."""
    return error(410, "deleted", diagnostics)


def conflict(diagnostics: str) -> FhirError:
    """409: a concurrent change won."""
    return error(409, "conflict", diagnostics)


def precondition_failed(diagnostics: str) -> FhirError:
    """412: If-Match or a conditional interaction's precondition did not hold."""
    return error(412, "conflict", diagnostics)


def not_supported(diagnostics: str, status: int = 400) -> FhirError:
    """A request for something this server does not do."""
    return error(status, "not-supported", diagnostics)
