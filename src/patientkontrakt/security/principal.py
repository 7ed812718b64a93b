"""Who is calling: the authenticated identity a request runs as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from patientkontrakt.security.scopes import ScopeSet

Context = Literal["patient", "user", "system"]


@dataclass(frozen=True)
class Principal:
    """The caller of one request, from a validated bearer token (and the emergency header).

    `patient` is the token's patient context (SMART `patient` claim); `fhir_user` the clinician's
    `PractitionerRole/{id}` (SMART `fhirUser`); `client_id` the SMART client (EHR integration,
    portal, API client). `purpose_of_use` is `TREAT`, or `ETREAT` for declared emergency access
    (nödåtkomst) with its `emergency_reason`.
    """

    subject: str
    client_id: str
    scopes: ScopeSet
    patient: str | None = None
    fhir_user: str | None = None
    purpose_of_use: str = "TREAT"
    emergency_reason: str | None = None

    @property
    def context(self) -> Context:
        """Whose data the caller acts on: one patient's, a user's patients', or a system's."""
        if self.patient is not None:
            return "patient"
        if self.fhir_user is not None:
            return "user"
        return "system"

    @property
    def emergency(self) -> bool:
        """True for declared emergency access (purpose of use ETREAT)."""
        return self.purpose_of_use == "ETREAT"
