"""The care providers of the demo county: Organizations, Practitioners and PractitionerRoles.

The county is fictional: Region Sjöland runs three health centres (vårdcentraler), an adult
psychiatry clinic and Sjöviks sjukhus with its medical clinic; a private company runs a fourth
health centre; Sjöviks kommun runs social services (biståndsenheten), home care (hemtjänst) and
school health (elevhälsa). Each organisation has an organisationsnummer (ten digits, Luhn check
digit) and an HSA-id `SE` + the organisationsnummer of the care provider + `-` + a suffix; each
person's HSA-id is built the same way from the employer's number. The staff is the same for any
number of patients.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.contract.demo_base import Clock, meta, ref
from patientkontrakt.contract.demo_people import (
    TOWNS,
    Town,
    email,
    family_name,
    given_name,
    organisationsnummer,
    phone,
)
from patientkontrakt.contract.vocabulary import HSA_ID, ORGANISATIONSNUMMER, Canonicals

SNOMED = "http://snomed.info/sct"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"


@dataclass(frozen=True)
class Profession:
    """A profession of PractitionerRole.code: Swedish title and SNOMED CT occupation."""

    key: str
    title: str
    snomed: str
    snomed_display: str


PROFESSIONS = {
    p.key: p
    for p in (
        Profession("lakare", "Läkare", "158965000", "Medical practitioner"),
        Profession("sjukskoterska", "Sjuksköterska", "224535009", "Registered nurse"),
        Profession("psykolog", "Psykolog", "59944000", "Psychologist"),
        Profession("kurator", "Kurator", "106328005", "Social worker"),
        Profession("fysioterapeut", "Fysioterapeut", "36682004", "Physiotherapist"),
        Profession("bistandshandlaggare", "Biståndshandläggare", "106328005", "Social worker"),
    )
}

PROVIDERS = {
    # The care providers (legal entities) and their organisationsnummer.
    "region": organisationsnummer("232199000"),  # Region Sjöland
    "kommun": organisationsnummer("212099000"),  # Sjöviks kommun
    "ekudden": organisationsnummer("559990001"),  # Ekuddens Läkarhus AB
}


@dataclass(frozen=True)
class Unit:
    """An organisation of the county and the staff it employs."""

    key: str
    name: str
    provider: str
    """Key of the legal entity in `PROVIDERS` whose organisationsnummer the unit carries."""
    hsa_suffix: str
    org_type: str
    town: Town
    part_of: str | None = None
    staff: tuple[tuple[str, int], ...] = ()
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    opens: str = "08:00:00"
    closes: str = "17:00:00"
    exceptions: str = "Stängt lördagar, söndagar och helgdagar."

    @property
    def id(self) -> str:
        return f"demo-org-{self.key}"

    @property
    def domain(self) -> str:
        return {"region": "regionsjoland", "kommun": "sjovik", "ekudden": "ekudden"}[
            self.provider
        ] + ".example"


_SJOVIK, _NORRBY, _BJORKAS, _EKUDDEN, _LILLA = TOWNS
_GP_STAFF = (
    ("lakare", 2),
    ("sjukskoterska", 2),
    ("psykolog", 1),
    ("kurator", 1),
    ("fysioterapeut", 1),
)

UNITS = [
    Unit("region", "Region Sjöland", "region", "REG1", "govt", _SJOVIK),
    Unit("kommun", "Sjöviks kommun", "kommun", "KOM1", "govt", _SJOVIK),
    Unit("ekudden", "Ekuddens Läkarhus AB", "ekudden", "EKL1", "prov", _EKUDDEN),
    Unit(
        "vc-centrum",
        "Vårdcentralen Sjövik Centrum",
        "region",
        "VC01",
        "prov",
        _SJOVIK,
        part_of="region",
        staff=_GP_STAFF,
    ),
    Unit(
        "vc-norrby",
        "Vårdcentralen Norrby",
        "region",
        "VC02",
        "prov",
        _NORRBY,
        part_of="region",
        staff=_GP_STAFF,
    ),
    Unit(
        "hc-bjorkas",
        "Hälsocentralen Björkås",
        "region",
        "VC03",
        "prov",
        _BJORKAS,
        part_of="region",
        staff=_GP_STAFF,
    ),
    Unit(
        "vc-ekudden",
        "Ekuddens Läkarhus vårdcentral",
        "ekudden",
        "VC04",
        "prov",
        _EKUDDEN,
        part_of="ekudden",
        staff=_GP_STAFF,
    ),
    Unit(
        "psykiatri",
        "Vuxenpsykiatriska mottagningen Sjövik",
        "region",
        "PSY1",
        "prov",
        _SJOVIK,
        part_of="region",
        staff=(("lakare", 1), ("sjukskoterska", 2), ("psykolog", 1), ("kurator", 1)),
        closes="16:30:00",
    ),
    Unit("sjukhus", "Sjöviks sjukhus", "region", "SJH1", "prov", _SJOVIK, part_of="region"),
    Unit(
        "medicin",
        "Medicinkliniken, Sjöviks sjukhus",
        "region",
        "MED1",
        "dept",
        _SJOVIK,
        part_of="sjukhus",
        staff=(("lakare", 2), ("sjukskoterska", 1), ("fysioterapeut", 1)),
        opens="07:30:00",
        closes="16:00:00",
        exceptions="Vårdavdelningen är bemannad dygnet runt; mottagningen har öppet vardagar.",
    ),
    Unit(
        "socialtjanst",
        "Socialtjänsten Sjöviks kommun, biståndsenheten",
        "kommun",
        "SOC1",
        "dept",
        _SJOVIK,
        part_of="kommun",
        staff=(("bistandshandlaggare", 2),),
        closes="16:00:00",
        exceptions="Telefontid vardagar 08.30–09.30. Stängt helgdagar.",
    ),
    Unit(
        "hemtjanst",
        "Hemtjänsten Sjövik",
        "kommun",
        "HT01",
        "dept",
        _LILLA,
        part_of="kommun",
        days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        opens="07:00:00",
        closes="22:00:00",
        exceptions="Trygghetslarmet är bemannat dygnet runt.",
    ),
    Unit(
        "elevhalsa",
        "Elevhälsan, Sjöviks kommun",
        "kommun",
        "EH01",
        "dept",
        _SJOVIK,
        part_of="kommun",
        staff=(("sjukskoterska", 1), ("kurator", 1), ("psykolog", 1)),
        closes="15:30:00",
        exceptions="Stängt under skolans lov.",
    ),
]
UNITS_BY_KEY = {u.key: u for u in UNITS}
HEALTH_CENTRES = ("vc-centrum", "vc-norrby", "hc-bjorkas", "vc-ekudden")


def hsa_id(provider: str, suffix: str) -> str:
    """`SE` + the care provider's organisationsnummer + `-` + suffix."""
    return f"SE{PROVIDERS[provider]}-{suffix}"


@dataclass(frozen=True)
class Role:
    """One PractitionerRole of the county, as the patient generator refers to it."""

    id: str
    unit: Unit
    profession: Profession
    display: str

    def reference(self) -> dict[str, Any]:
        return ref("PractitionerRole", self.id, self.display)


@dataclass
class Staff:
    """The county's resources and its roles by (unit key, profession key)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    roles: dict[tuple[str, str], list[Role]] = field(default_factory=dict)

    def of(self, unit: str, profession: str) -> list[Role]:
        """The roles of a profession at a unit (empty when it has none)."""
        return self.roles.get((unit, profession), [])


def county_staff(seed: int, canonicals: Canonicals, clock: Clock) -> Staff:
    """Every organisation, practitioner and role of the county; names drawn from `seed`."""
    rng = random.Random(f"patientkontrakt-demo:{seed}:staff")  # noqa: S311 (not secret)
    staff = Staff()
    for number, unit in enumerate(UNITS):
        staff.resources.append(_organization(unit, number, canonicals))
    serial = 0
    taken: set[tuple[str, str]] = set()
    for unit in UNITS:
        for profession_key, count in unit.staff:
            profession = PROFESSIONS[profession_key]
            for n in range(1, count + 1):
                serial += 1
                person = _new_person(rng, taken)
                key = f"{unit.key}-{profession.key}-{n}"
                role = Role(
                    f"demo-role-{key}",
                    unit,
                    profession,
                    f"{person.given} {person.family}, {profession.title.lower()}",
                )
                person_hsa = hsa_id(unit.provider, f"P{serial:04d}")
                practitioner_id = f"demo-practitioner-{key}"
                staff.resources.append(
                    _practitioner(practitioner_id, person, person_hsa, canonicals)
                )
                staff.resources.append(
                    {
                        "resourceType": "PractitionerRole",
                        "id": role.id,
                        "meta": meta(canonicals, "pk-practitionerrole"),
                        "identifier": [{"use": "official", "system": HSA_ID, "value": person_hsa}],
                        "active": True,
                        "period": {"start": clock.date(-rng.randint(200, 4000))},
                        "practitioner": ref("Practitioner", practitioner_id, person.display),
                        "organization": ref("Organization", unit.id, unit.name),
                        "code": [_profession_code(profession)],
                        **_specialty(unit, profession),
                        "telecom": [
                            {"system": "phone", "value": phone(serial), "use": "work"},
                            {
                                "system": "email",
                                "value": email(person.given, person.family, unit.domain),
                                "use": "work",
                            },
                        ],
                        "availableTime": _available_time(unit, profession, rng),
                        "availabilityExceptions": unit.exceptions,
                    }
                )
                staff.roles.setdefault((unit.key, profession.key), []).append(role)
    return staff


@dataclass(frozen=True)
class _Person:
    given: str
    family: str
    male: bool

    @property
    def display(self) -> str:
        return f"{self.given} {self.family}"


def _new_person(rng: random.Random, taken: set[tuple[str, str]]) -> _Person:
    while True:
        male = rng.random() < 0.35
        born = dt.date(rng.randint(1960, 1995), 1, 1)
        person = _Person(given_name(rng, male, born), family_name(rng), male)
        if (person.given, person.family) not in taken:
            taken.add((person.given, person.family))
            return person


def _organization(unit: Unit, number: int, canonicals: Canonicals) -> dict[str, Any]:
    orgnr = PROVIDERS[unit.provider]
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": unit.id,
        "meta": meta(canonicals, "pk-organization"),
        "identifier": [
            {"use": "official", "system": HSA_ID, "value": hsa_id(unit.provider, unit.hsa_suffix)},
            {"use": "official", "system": ORGANISATIONSNUMMER, "value": orgnr},
        ],
        "active": True,
        "type": [{"coding": [{"system": ORGANIZATION_TYPE, "code": unit.org_type}]}],
        "name": unit.name,
        "telecom": [
            {"system": "phone", "value": phone(80 + number), "use": "work"},
            {"system": "url", "value": f"https://{unit.domain}/{unit.key}", "use": "work"},
        ],
        "address": [
            {
                "use": "work",
                "type": "both",
                "line": [f"{unit.name.split(',')[0]}, Storgatan {10 + number}"],
                "postalCode": f"{unit.town.postal_prefix} {20 + number:02d}",
                "city": unit.town.name,
                "country": "SE",
            }
        ],
    }
    if unit.part_of is not None:
        parent = UNITS_BY_KEY[unit.part_of]
        organization["partOf"] = ref("Organization", parent.id, parent.name)
    return organization


def _practitioner(
    practitioner_id: str, person: _Person, person_hsa: str, canonicals: Canonicals
) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id,
        "meta": meta(canonicals),
        "identifier": [{"use": "official", "system": HSA_ID, "value": person_hsa}],
        "active": True,
        "name": [{"use": "official", "family": person.family, "given": [person.given]}],
        "gender": "male" if person.male else "female",
    }


def _profession_code(profession: Profession) -> dict[str, Any]:
    return {
        "coding": [
            {"system": SNOMED, "code": profession.snomed, "display": profession.snomed_display}
        ],
        "text": profession.title,
    }


_SPECIALTIES = {
    # SNOMED CT specialties of the doctors: general practice, psychiatry, internal medicine.
    "vc": ("394814009", "General practice", "Allmänmedicin"),
    "hc": ("394814009", "General practice", "Allmänmedicin"),
    "psykiatri": ("394587001", "Psychiatry", "Psykiatri"),
    "medicin": ("419192003", "Internal medicine", "Internmedicin"),
}


def _specialty(unit: Unit, profession: Profession) -> dict[str, Any]:
    if profession.key != "lakare":
        return {}
    code, display, text = _SPECIALTIES[unit.key.split("-")[0]]
    return {
        "specialty": [
            {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": text}
        ]
    }


def _available_time(unit: Unit, profession: Profession, rng: random.Random) -> list[Any]:
    days = list(unit.days)
    if profession.key in ("psykolog", "kurator") and rng.random() < 0.5:
        days = days[:4]  # part time: not on Fridays
    return [{"daysOfWeek": days, "availableStartTime": unit.opens, "availableEndTime": unit.closes}]
