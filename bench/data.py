"""The benchmark's data: the demo county at a size, the same resources in every server.

One generation pass (`contract.demo.generate`, seed 1, times relative to the run's date) writes
the county as NDJSON files, keeps what the scenarios address of each patient, and keeps the
patients after the county as material for the transaction scenario. Our server loads the files
through the product's own bulk path (`patientkontrakt load`: validated and indexed like any
write, one database transaction per 500 resources); HAPI FHIR gets the same resources as
transaction Bundles of 500 PUTs with the same ids (HAPI accepts client-assigned ids that are not
purely numeric). Both loads are timed.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.servers import Ours, Server
from patientkontrakt.contract.demo import generate
from patientkontrakt.contract.vocabulary import PERSONNUMMER, Canonicals

SEED = 1
FILE_RESOURCES = 50_000
"""Resources per NDJSON file: `patientkontrakt load` reads a file whole."""
LOAD_BATCH = 500
"""Resources per database transaction (ours) and per transaction Bundle (HAPI)."""
POOL_PATIENTS = 200
"""Patients after the county whose resources make the transaction scenario's Bundles."""
BUNDLE_ENTRIES = 100
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass(frozen=True)
class Person:
    """What the scenarios address of one demo patient."""

    id: str
    care_plan: str
    personnummer: str


@dataclass(frozen=True)
class Load:
    """How long a server took to store the county."""

    resources: int
    seconds: float

    @property
    def per_second(self) -> float:
        return round(self.resources / self.seconds, 1) if self.seconds else 0.0


@dataclass
class County:
    """The demo county written to `files`, and what the scenarios need of it."""

    patients: int
    today: dt.date
    files: list[Path]
    resources: int = 0
    people: list[Person] = field(default_factory=list)
    extra: list[list[dict[str, Any]]] = field(default_factory=list)
    """The resources of each patient after the county, who is in no server."""
    practitioner: str = ""
    """A Practitioner of the county's staff, for the roles the CRUD cycle creates."""

    def transaction_pool(self) -> TransactionPool:
        """A fresh pool: every server gets the same sequence of Bundles."""
        return TransactionPool(self.extra, BUNDLE_ENTRIES)


def write_county(folder: Path, patients: int, today: dt.date) -> County:
    """Generate the county of `patients` (and `POOL_PATIENTS` more) into NDJSON files."""
    county = County(patients, today, [])
    # The default canonical base: the servers run without PK_ settings of ours.
    stream = generate(patients + POOL_PATIENTS, SEED, Canonicals(), today=today)
    out = None
    seen_patients = 0
    try:
        for resource in stream:
            kind = resource["resourceType"]
            if kind == "Patient":
                seen_patients += 1
                if seen_patients > patients:
                    county.extra.append([])
                else:
                    number = next(
                        i["value"] for i in resource["identifier"] if i["system"] == PERSONNUMMER
                    )
                    county.people.append(Person(resource["id"], "", number))
            if seen_patients > patients:
                county.extra[-1].append(resource)
                continue
            if kind == "Practitioner" and not county.practitioner:
                county.practitioner = resource["id"]
            if kind == "CarePlan":
                # One contract plan per demo patient, written after his other resources.
                county.people[-1] = replace(county.people[-1], care_plan=resource["id"])
            if out is None or county.resources % FILE_RESOURCES == 0:
                if out is not None:
                    out.close()
                county.files.append(folder / f"county-{len(county.files) + 1}.ndjson")
                out = county.files[-1].open("wb")
            out.write(orjson.dumps(resource) + b"\n")
            county.resources += 1
    finally:
        if out is not None:
            out.close()
    assert all(p.care_plan for p in county.people), "a demo patient without a CarePlan"
    return county


def load_ours(ours: Ours, county: County) -> Load:
    """`patientkontrakt load` of the county's files, before the server starts."""
    started = time.perf_counter()
    ours.command("load", "--batch-size", str(LOAD_BATCH), *map(str, county.files))
    return Load(county.resources, time.perf_counter() - started)


def transaction(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle writing each resource with its own id (update as create)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def load_hapi(server: Server, county: County) -> Load:
    """The county's resources to HAPI as transaction Bundles of `LOAD_BATCH` PUTs, in order."""
    started = time.perf_counter()
    with httpx.Client(base_url=server.base, timeout=600, headers=FHIR_JSON) as client:

        def send(batch: list[dict[str, Any]]) -> None:
            answer = client.post("", content=orjson.dumps(transaction(batch)))
            if answer.status_code != 200:
                raise RuntimeError(f"HAPI refused the county: {answer.text[:2000]}")

        batch: list[dict[str, Any]] = []
        for path in county.files:
            with path.open("rb") as lines:
                for line in lines:
                    batch.append(orjson.loads(line))
                    if len(batch) == LOAD_BATCH:
                        send(batch)
                        batch = []
        if batch:
            send(batch)
    return Load(county.resources, time.perf_counter() - started)


PATIENT_SCOPED_ID = re.compile(rb"(demo-[a-z]+-\d{6})")
"""A demo id that holds a patient number (`demo-careplan-000123`, `demo-goal-000123-2`); the
ids of organisations, practitioners and roles have none."""


class TransactionPool:
    """Transaction Bundles of `entries` PUTs of new resources, the same sequence for every server.

    Made of whole patients after the county, in order; the patient who would overflow a Bundle
    is cut (his last resources, the CareTeams and the CarePlan that refer to the others, are
    left out), so no Bundle refers to a resource of another. When the Bundles run out they come
    round again with every patient-scoped id renamed (`demo-patient-001001r1`): every Bundle
    creates new resources. A repeated identical PUT would not be the same work on both sides:
    HAPI stores nothing for an update that changes nothing, ours stores a new version.
    """

    def __init__(self, patients: list[list[dict[str, Any]]], entries: int) -> None:
        self.templates: list[bytes] = []
        batch: list[dict[str, Any]] = []
        for resources in patients:
            batch += resources[: entries - len(batch)]
            if len(batch) == entries:
                self.templates.append(orjson.dumps(transaction(batch)))
                batch = []
        if not self.templates:
            raise ValueError(f"too few patients for a Bundle of {entries} entries")
        self.taken = 0

    def take(self) -> bytes:
        """The next Bundle, as the JSON to send."""
        round_, index = divmod(self.taken, len(self.templates))
        self.taken += 1
        template = self.templates[index]
        if round_ == 0:
            return template
        return PATIENT_SCOPED_ID.sub(rb"\1r" + str(round_).encode(), template)
