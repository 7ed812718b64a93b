"""The systems, codes and canonical URLs of the patient contract, in one place.

Swedish identifier systems follow HL7 Sweden's base profiles (hl7se.fhir.base 1.1.0). The
product's own CodeSystems, ValueSets, profiles and extensions live under a canonical base the
product owns; `fhir_profiles/` is written with `DEFAULT_CANONICAL_BASE` and rewritten to
`PK_CANONICAL_BASE` when that is set.
"""

from __future__ import annotations

from dataclasses import dataclass

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
RESERVNUMMER = "http://electronichealth.se/identifier/nationelltReservnummer"
HSA_ID = "urn:oid:1.2.752.29.4.19"
HSA_ID_RIVTA = "urn:oid:1.2.752.129.2.1.4.1"
"""RIV-TA's HSA-id system, accepted on input beside `HSA_ID`."""
ORGANISATIONSNUMMER = "urn:oid:2.5.4.97"

TEST_DATA_TAG_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
TEST_DATA_TAG_CODE = "HTEST"
"""`meta.tag` marking generated test data (demo county, benchmarks)."""

DEFAULT_CANONICAL_BASE = "https://patientkontrakt.se/fhir"

ROLE_FAST_VARDKONTAKT = "fast-vardkontakt"
ROLE_FAST_LAKARKONTAKT = "fast-lakarkontakt"
CATEGORY_PATIENTKONTRAKT = "patientkontrakt"
CATEGORY_SPARR = "sparr"
"""Consent category of a spärr (the patient blocks other care providers from information)."""

PLAN_TYPES = {
    # Aligned with the plan types of Inera's care-plan service contract (TypeOfCarePlan).
    "SIP": "Samordnad individuell plan",
    "SPLPTLRV": "Samordnad plan enligt LPT/LRV",
    "SPU": "Samordnad plan inför utskrivning",
    "VP": "Vårdplan",
    "HP": "Habiliteringsplan",
    "RP": "Rehabiliteringsplan",
}


@dataclass(frozen=True)
class Canonicals:
    """The product's canonical URLs under one base (`PK_CANONICAL_BASE`)."""

    base: str = DEFAULT_CANONICAL_BASE

    def url(self, resource_type: str, name: str) -> str:
        """`{base}/{resource_type}/{name}`, e.g. a StructureDefinition's canonical URL."""
        return f"{self.base.rstrip('/')}/{resource_type}/{name}"

    def profile(self, name: str) -> str:
        """The canonical URL of one of the product's StructureDefinitions."""
        return self.url("StructureDefinition", name)

    @property
    def contract_category(self) -> str:
        """CodeSystem of the contract category (`patientkontrakt`) and spärr (`sparr`)."""
        return self.url("CodeSystem", "contract-category")

    @property
    def care_team_role(self) -> str:
        """CodeSystem of care-team roles: fast-vardkontakt, fast-lakarkontakt, ..."""
        return self.url("CodeSystem", "care-team-role")

    @property
    def plan_type(self) -> str:
        """CodeSystem of plan types aligned with Inera's TypeOfCarePlan (SIP, VP, ...)."""
        return self.url("CodeSystem", "care-plan-type")

    @property
    def approved_for_patient(self) -> str:
        """Extension (valueBoolean) on CarePlan: shown in patient-facing use when true."""
        return self.profile("approved-for-patient")

    @property
    def information_holder(self) -> str:
        """Extension (valueReference to Organization): the care provider holding the data."""
        return self.profile("information-holder")

    @property
    def contract_section(self) -> str:
        """CodeSystem of the sections of the `$patient-contract` document."""
        return self.url("CodeSystem", "contract-section")

    @property
    def patient_contract_operation(self) -> str:
        """OperationDefinition of `$patient-contract` (the contract as a FHIR document)."""
        return self.url("OperationDefinition", "patient-contract")
