"""The demo county: a reproducible, synthetic Swedish county with patient contracts.

`generate` makes the county's care providers (`demo_staff`) and, per patient, his contract
(`demo_care`, from the care situations in `demo_scenarios`). The same seed gives the same
resources with the same ids (`demo-patient-000001`, `demo-careplan-000001`, ...); only the
times move with the reference date, so agreed times are upcoming for whoever loads the county
today. Patient *n* is the same whatever the number of patients, so a larger county extends a
smaller one. Patient 1 is Tolvan Tolvansson (19121212-1212); the others get personnummer by the
demo rule in `demo_people`. Everything is tagged HTEST (`meta.tag`, v3-ActReason: test data).

`load_demo_county` writes it through the ordinary bulk write path (validated and indexed, like
`patientkontrakt load`); a known id is updated, never duplicated. `load_on_first_start` is what
`make serve` runs before serving: a small county, only into a database without patients and only
when `PK_DEMO_DATA` is on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from patientkontrakt.config import Settings
from patientkontrakt.contract.demo_base import Clock, today_in_stockholm
from patientkontrakt.contract.demo_care import patient_id, patient_resources
from patientkontrakt.contract.demo_people import PersonnummerRule
from patientkontrakt.contract.demo_staff import county_staff
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.loading import write_chunk
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store

MAX_PATIENTS = 999_999
"""Patient ids have six digits."""
FIRST_START_PATIENTS = 20
FIRST_START_SEED = 1


def generate(
    patients: int, seed: int, canonicals: Canonicals, *, today: dt.date | None = None
) -> Iterator[dict[str, Any]]:
    """The county's resources: staff first, then each patient with his contract.

    `today` is the reference date the times are relative to (default: today in Sweden).
    """
    if not 0 <= patients <= MAX_PATIENTS:
        raise ValueError(f"patients must be between 0 and {MAX_PATIENTS}")
    clock = Clock(today or today_in_stockholm())
    staff = county_staff(seed, canonicals, clock)
    yield from staff.resources
    rule = PersonnummerRule()
    for number in range(1, patients + 1):
        yield from patient_resources(number, seed, staff, rule, canonicals, clock)


@dataclass
class Summary:
    """What a load wrote."""

    patients: int
    seed: int
    by_type: Counter[str] = field(default_factory=Counter)
    created: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    @property
    def updated(self) -> int:
        return self.total - self.created

    def lines(self) -> list[str]:
        """A human report: totals, then one line per resource type."""
        head = (
            f"demo county (seed {self.seed}, {self.patients} patients): wrote {self.total} "
            f"resources, {self.created} new, {self.updated} updated"
        )
        return [head, *(f"  {t:<18}{n:>7}" for t, n in sorted(self.by_type.items()))]


async def write_county(
    store: Store,
    resources: Iterable[dict[str, Any]],
    summary: Summary,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> Summary:
    """Write `resources` in transactions of `batch_size`; `on_batch` gets the patients done."""

    async def flush(chunk: list[dict[str, Any]]) -> None:
        summary.created += await write_chunk(store, chunk)
        summary.by_type.update(r["resourceType"] for r in chunk)
        if on_batch is not None:
            on_batch(sum(1 for r in chunk if r["resourceType"] == "Patient"))

    chunk: list[dict[str, Any]] = []
    for resource in resources:
        chunk.append(resource)
        if len(chunk) >= batch_size:
            await flush(chunk)
            chunk = []
    if chunk:
        await flush(chunk)
    return summary


async def load_demo_county(
    settings: Settings,
    *,
    patients: int,
    seed: int,
    today: dt.date | None = None,
    batch_size: int = 500,
    store: Store | None = None,
) -> Summary:
    """Generate the county and write it to the configured database, with a progress bar."""
    canonicals = Canonicals(settings.canonical_base)
    own = store is None
    store = store or Store(create_engine(settings.resolved_database_url()))
    summary = Summary(patients, seed)
    try:
        with Progress() as progress:
            task = progress.add_task("demo county", total=max(patients, 1))
            await write_county(
                store,
                generate(patients, seed, canonicals, today=today),
                summary,
                batch_size=batch_size,
                on_batch=lambda n: progress.advance(task, n),
            )
            progress.update(task, completed=max(patients, 1))
        await store.refresh_statistics()
    finally:
        if own:
            await store.dispose()
    return summary


async def holds_patients(store: Store) -> bool:
    """Whether the database holds any Patient, or ever held the first demo patient."""
    async with store.reading() as repo:
        if await repo.count_current("Patient"):
            return True
        return bool(await repo.existing_ids("Patient", [patient_id(1)]))


async def load_on_first_start(
    settings: Settings,
    *,
    patients: int = FIRST_START_PATIENTS,
    seed: int = FIRST_START_SEED,
) -> tuple[str, Summary | None]:
    """`make serve`'s first start: the demo county into a database that holds no Patient.

    Nothing is written when `PK_DEMO_DATA` is off or a Patient exists; the message says why.
    """
    if not settings.demo_data:
        return "demo county not loaded: PK_DEMO_DATA is off", None
    store = Store(create_engine(settings.resolved_database_url()))
    try:
        if await holds_patients(store):
            return "demo county not loaded: the database already holds patients", None
        summary = await load_demo_county(settings, patients=patients, seed=seed, store=store)
    finally:
        await store.dispose()
    return "demo county loaded (PK_DEMO_DATA=0 turns this off)", summary
