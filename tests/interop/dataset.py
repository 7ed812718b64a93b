"""The data both servers of the differential suite hold: the demo county and the official R4
examples of the contract resources, written with the same ids to each as one transaction.

The county is made for a fixed reference date, so the dates the searches name are fixed too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from patientkontrakt.canonical import canonical_base
from patientkontrakt.contract.demo import generate
from patientkontrakt.contract.demo_people import PersonnummerRule
from patientkontrakt.contract.vocabulary import Canonicals

REFERENCE_DATE = dt.date(2026, 10, 20)
DEMO_PATIENTS = 30
DEMO_SEED = 1
R4_EXAMPLES = Path(__file__).parent / "r4_examples"


@cache
def demo_county() -> tuple[dict[str, Any], ...]:
    """The demo county's resources (30 patients, seed 1, times around 2026-10-20)."""
    canonicals = Canonicals(canonical_base())
    return tuple(generate(DEMO_PATIENTS, DEMO_SEED, canonicals, today=REFERENCE_DATE))


@cache
def r4_examples() -> tuple[dict[str, Any], ...]:
    """The official R4 examples kept in `r4_examples/`, unchanged."""
    return tuple(orjson.loads(path.read_bytes()) for path in sorted(R4_EXAMPLES.glob("*.json")))


def everything() -> tuple[dict[str, Any], ...]:
    """The whole dataset."""
    return demo_county() + r4_examples()


@cache
def resource_keys() -> frozenset[tuple[str, str]]:
    """(type, id) of every resource of the dataset: a peer may hold more (HAPI is shared with
    the sync tests), and only these take part in a comparison."""
    return frozenset((r["resourceType"], r["id"]) for r in everything())


def fresh_personnummer(*, male: bool) -> str:
    """A test personnummer by the demo rule (birth numbers 980-999) on a random date, so that
    no earlier run on the shared HAPI has it."""
    born = dt.date(1930, 1, 1) + dt.timedelta(days=secrets.randbelow(365 * 75))
    number, _ = PersonnummerRule().issue(born, male)
    return number
