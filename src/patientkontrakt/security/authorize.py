"""From a request's credentials to its RequestScope: the token, the declared purpose of use
(emergency access), the clinician's role, and the X-Provenance header.

Emergency access (nödåtkomst) is declared with two headers: `X-Purpose-Of-Use: ETREAT` and
`X-Access-Reason: <why>`. Only clinicians (user context) may declare it; it lifts the care
relation and spärr checks for that request, and every access it makes is audited with purpose
ETREAT and the reason.

With the audit journal on, a request that may reach AuditEvents first drains the journal into
the store, so the log it reads holds every access answered before it began.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.requests import Request

from patientkontrakt.config import Settings
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.context import server
from patientkontrakt.fhir.guard import RequestScope, WriteRule
from patientkontrakt.outcomes import FhirError, bad_request, error
from patientkontrakt.search.references import reference_key
from patientkontrakt.security.access import Clinician, SecurityGuard
from patientkontrakt.security.audit import AuditWriter
from patientkontrakt.security.audit_journal import AuditJournal, journal_folder
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.provenance import parse_x_provenance
from patientkontrakt.security.tokens import Authenticator
from patientkontrakt.store.transactions import Store

PURPOSE_HEADER = "x-purpose-of-use"
REASON_HEADER = "x-access-reason"
_MAX_REASON = 500
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUDIT_EVENT = "AuditEvent"
_ANY_TYPE = frozenset({"", "_history", "_search"})
"""Paths below the base that may reach every type: system search and history, batches."""


def _header_text(value: str) -> str:
    """A header value as its sender wrote it: Starlette decodes header bytes as Latin-1, but
    most clients send non-ASCII text (a Swedish reason "medvetslös", an X-Provenance with
    "Vårdplanering") as UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value  # Latin-1 bytes (as browsers send "ö"), or not bytes at all


def _with_purpose(principal: Principal, request: Request) -> Principal:
    purpose = request.headers.get(PURPOSE_HEADER)
    if purpose is None or purpose == "TREAT":
        return principal
    if purpose != "ETREAT":
        raise bad_request(f"{PURPOSE_HEADER} must be TREAT or ETREAT")
    reason = _header_text(request.headers.get(REASON_HEADER) or "").strip()
    if not reason or len(reason) > _MAX_REASON:
        raise bad_request(
            f"Nödåtkomst kräver ett skäl / emergency access needs {REASON_HEADER} "
            f"(1-{_MAX_REASON} characters)"
        )
    if principal.context != "user":
        raise error(
            403,
            "forbidden",
            "Nödåtkomst gäller vårdpersonal / only clinicians (fhirUser) may declare "
            "emergency access",
        )
    return dataclasses.replace(principal, purpose_of_use="ETREAT", emergency_reason=reason)


def _may_read_audit_events(request: Request, principal: Principal) -> bool:
    """Whether the request may return AuditEvents: the caller's scopes allow reading or
    searching them, and the request names the type (path, compartment, `_type`, `_revinclude`,
    `_has`) or may reach every type (system level, a batch, a search with a form body)."""
    scopes, context = principal.scopes, principal.context
    if not (scopes.allows(context, _AUDIT_EVENT, "r") or scopes.allows(context, _AUDIT_EVENT, "s")):
        return False
    below = request.url.path.partition("/fhir")[2].strip("/")
    if below in _ANY_TYPE or below.endswith("/_search") or _AUDIT_EVENT in below:
        return True
    return any(_AUDIT_EVENT in f"{k}={v}" for k, v in request.query_params.multi_items())


def _reference_id(value: object, resource_type: str) -> str | None:
    key = reference_key(value)
    return key[1] if key is not None and key[0] == resource_type else None


class Authorizer:
    """Builds each request's RequestScope; one per app."""

    def __init__(self, settings: Settings, store: Store, rules: tuple[WriteRule, ...]) -> None:
        self.authenticator = Authenticator.from_settings(settings)
        base = settings.base_url or ""
        self.journal = (
            AuditJournal(journal_folder(settings.data_dir), store, base_url=base)
            if settings.audit_journal
            else None
        )
        self.writer = self.journal.writer if self.journal else AuditWriter(store, base_url=base)
        self.store = store
        self.rules = rules
        self.canonicals = Canonicals(settings.canonical_base)

    async def _clinician(self, fhir_user: str) -> Clinician:
        role_id = fhir_user.rsplit("PractitionerRole/", 1)[-1]
        async with self.store.reading() as repo:
            role = await repo.current("PractitionerRole", role_id)
        if role is None or role.deleted or role.content is None:
            raise error(
                403, "forbidden", f"fhirUser {fhir_user} is not a PractitionerRole known here"
            )
        content = orjson.loads(role.content)
        return Clinician(
            role_id,
            _reference_id(content.get("practitioner"), "Practitioner"),
            _reference_id(content.get("organization"), "Organization"),
        )

    async def _drain(self, journal: AuditJournal) -> None:
        try:
            await journal.drain()
        except Exception as exc:
            raise error(
                503,
                "transient",
                "Granskningsloggen kan inte göras aktuell just nu / the audit log cannot be "
                "brought up to date; try again",
            ) from exc

    def _guard(
        self,
        request: Request,
        principal: Principal,
        clinician: Clinician | None = None,
        header: dict[str, Any] | None = None,
    ) -> SecurityGuard:
        return SecurityGuard(
            principal=principal,
            writer=self.writer,
            base=server(request).base_url(request),
            canonicals=self.canonicals,
            clinician=clinician,
            address=request.client.host if request.client else None,
            x_provenance=header,
            request_id=getattr(request.state, "request_id", None),
            request_line=(request.method, request.url.path.split("/fhir/", 1)[-1]),
        )

    async def __call__(self, request: Request) -> RequestScope:
        """The caller's RequestScope; 401 without valid credentials.

        An authenticated request refused here (a bad or forbidden emergency declaration, an
        unknown fhirUser role, a malformed X-Provenance) is audited like any refusal.
        """
        principal = await self.authenticator.authenticate(request.headers.get("authorization"))
        try:
            checked = _with_purpose(principal, request)
            clinician = None
            if checked.context == "user":
                assert checked.fhir_user is not None
                clinician = await self._clinician(checked.fhir_user)
            raw_provenance = request.headers.get("x-provenance")
            header = (
                parse_x_provenance(_header_text(raw_provenance))
                if request.method in _WRITE_METHODS and raw_provenance is not None
                else None
            )
            if self.journal is not None and _may_read_audit_events(request, checked):
                await self._drain(self.journal)
        except FhirError as exc:
            await self._guard(request, principal).finish(exc.status)
            raise
        return RequestScope(self._guard(request, checked, clinician, header), self.rules)
