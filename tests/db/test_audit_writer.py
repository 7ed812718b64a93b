"""Audit records stored as searchable AuditEvents, on both databases (security/audit.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from patientkontrakt.security.audit import AuditRecord, AuditWriter, patients_of, write_audit
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.transactions import Store
from tests.db.audit_fixtures import (  # noqa: F401  (store is a fixture)
    CLINICIAN,
    NURSE,
    PORTAL,
    at,
    search,
    store,
)
from tests.statements import sent_statements

pytestmark = pytest.mark.anyio


async def test_patients_of_many_references_in_one_statement(store: Store) -> None:  # noqa: F811
    references = {
        "CarePlan/cp1",
        "CarePlan/cp1/_history/1",
        "CareTeam/team",
        "CarePlan/cp-other",
        "CarePlan/cp-remote",
        "Patient/tolvan",
        "Patient/tolvan/_history/3",
        "Organization/vc",
        "CarePlan/missing",
        "not a reference",
    }
    with sent_statements(store.engine) as sent:
        async with store.reading() as repo:
            found = await patients_of(repo, references)

    assert found == {
        "CarePlan/cp1": ["tolvan"],
        "CarePlan/cp1/_history/1": ["tolvan"],
        "CareTeam/team": ["other", "tolvan"],
        "CarePlan/cp-other": ["other"],
        "CarePlan/cp-remote": [],
        "Patient/tolvan": ["tolvan"],
        "Patient/tolvan/_history/3": ["tolvan"],
        "Organization/vc": [],
        "CarePlan/missing": [],
        "not a reference": [],
    }
    assert len(sent) == 1, sent


async def test_patients_of_needs_no_statement_without_compartment_resources(
    store: Store,  # noqa: F811
) -> None:
    with sent_statements(store.engine) as sent:
        async with store.reading() as repo:
            found = await patients_of(repo, {"Patient/tolvan", "Organization/vc"})
    assert found == {"Patient/tolvan": ["tolvan"], "Organization/vc": []}
    assert sent == []


async def test_absolute_references_under_the_base_count_as_local(store: Store) -> None:  # noqa: F811
    async with store.writing() as repo:
        await _careplan(repo, "cp-abs", "http://test/fhir/Patient/other")
    async with store.reading() as repo:
        found = await patients_of(repo, {"CarePlan/cp-abs"}, base_url="http://test/fhir")
        relative_only = await patients_of(repo, {"CarePlan/cp-abs"})
    assert found == {"CarePlan/cp-abs": ["other"]}
    assert relative_only == {"CarePlan/cp-abs": []}


async def _careplan(repo: Repository, resource_id: str, subject: str) -> None:
    from patientkontrakt.search.indexer import index_rows
    from patientkontrakt.store.repository import NewResource

    body = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": subject},
    }
    await repo.create_many(
        [NewResource("CarePlan", resource_id, body, index_rows("CarePlan", resource_id, body))]
    )


RECORDS = [
    AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp1",),
        recorded=at("2026-11-27T08:00:00+00:00"),
        address="10.0.0.7",
    ),
    AuditRecord(
        NURSE,
        "search",
        "CarePlan",
        ("CarePlan/cp1", "CarePlan/cp-other"),
        query="status=active",
        recorded=at("2026-11-28T09:30:00+00:00"),
    ),
    AuditRecord(
        PORTAL,
        "read",
        "Organization",
        ("Organization/vc",),
        recorded=at("2026-11-28T10:00:00+00:00"),
    ),
    AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp-other",),
        outcome=403,
        recorded=at("2026-11-29T11:00:00+00:00"),
    ),
]


async def _ids(store: Store, pairs: list[tuple[str, str]]) -> list[str]:  # noqa: F811
    found = await search(store, "AuditEvent", [*pairs, ("_sort", "date")])
    return [e["recorded"] for e in found]


async def test_write_audit_stores_searchable_events_in_a_few_statements(
    store: Store,  # noqa: F811
) -> None:
    with sent_statements(store.engine) as sent:
        async with store.writing() as repo:
            await write_audit(repo, RECORDS)
    # One SELECT for the patients, then one INSERT per table, whatever the number of records.
    assert len(sent) <= 2 + 6, sent
    assert sum(s.lstrip().upper().startswith("SELECT") for s in sent) == 1

    first, second, third, fourth = (
        "2026-11-27T08:00:00.000Z",
        "2026-11-28T09:30:00.000Z",
        "2026-11-28T10:00:00.000Z",
        "2026-11-29T11:00:00.000Z",
    )
    # The portal's read of an Organization names tolvan as agent, not as entity.
    assert await _ids(store, [("patient", "Patient/tolvan")]) == [first, second, third]
    assert await _ids(store, [("patient", "other")]) == [second, fourth]
    assert await _ids(store, [("agent", "PractitionerRole/pr-anna")]) == [first, fourth]
    assert await _ids(store, [("agent", "Patient/tolvan")]) == [third]
    assert await _ids(store, [("agent:identifier", "urn:ietf:params:oauth:client-id|portal")]) == [
        third
    ]
    assert await _ids(store, [("altid", "sub-bertil")]) == [second]
    assert await _ids(store, [("entity", "CarePlan/cp1")]) == [first, second]
    assert await _ids(store, [("entity", "Organization/vc")]) == [third]
    assert await _ids(store, [("date", "ge2026-11-28"), ("date", "le2026-11-28")]) == [
        second,
        third,
    ]
    assert await _ids(store, [("subtype", "search-type")]) == [second]
    assert await _ids(store, [("outcome", "4")]) == [fourth]
    assert await _ids(store, [("address", "10.0.0.7")]) == [first]

    (searched,) = await search(store, "AuditEvent", [("altid", "sub-bertil")])
    assert searched["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert searched["purposeOfEvent"][0]["text"] == "Medvetslös på akuten"
    query = next(e for e in searched["entity"] if "query" in e)
    assert base64.b64decode(query["query"]) == b"status=active"
    assert searched["id"]
    assert searched["meta"]["versionId"] == "1"


async def test_patients_known_to_the_caller_are_kept(store: Store) -> None:  # noqa: F811
    # A deleted resource has no index rows left: the guard passes its patients along.
    deleted = AuditRecord(
        CLINICIAN,
        "delete",
        "CarePlan",
        ("CarePlan/gone/_history/2",),
        recorded=at("2026-11-28T12:00:00+00:00"),
        patients=("tolvan",),
    )
    async with store.writing() as repo:
        await write_audit(repo, [deleted])
    (found,) = await search(store, "AuditEvent", [("patient", "Patient/tolvan")])
    assert found["action"] == "D"


async def test_write_audit_of_nothing_writes_nothing(store: Store) -> None:  # noqa: F811
    with sent_statements(store.engine) as sent:
        async with store.writing() as repo:
            await write_audit(repo, [])
    assert sent == []


class Gate:
    """Holds one write transaction before it begins: `arrived` once it waits, `release` it."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()


class CountingStore(Store):
    """A store that counts write transactions, can hold them at gates and make them fail."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.engine)
        self.transactions = 0
        self.gates: list[Gate] = []
        self.fail: list[bool] = []

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Repository]:
        self.transactions += 1
        if self.gates:
            gate = self.gates.pop(0)
            gate.arrived.set()
            await gate.release.wait()
        failing = self.fail.pop(0) if self.fail else False
        async with super().writing() as repo:
            yield repo
            if failing:
                raise RuntimeError("the database went away")


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        CLINICIAN,
        "read",
        "CarePlan",
        ("CarePlan/cp1",),
        recorded=at(f"2026-11-28T10:{n:02d}:00+00:00"),
    )


async def _count(store: Store) -> int:  # noqa: F811
    return len(await search(store, "AuditEvent", [("_count", "1000")]))


async def test_concurrent_writes_share_transactions(store: Store) -> None:  # noqa: F811
    counting = CountingStore(store)
    writer = AuditWriter(counting)

    await asyncio.gather(*(writer.write([_record(n)]) for n in range(50)))

    assert await _count(store) == 50
    assert 1 <= counting.transactions < 50
    # The first caller finds the writer idle; everyone who queued behind it goes in one more.
    assert counting.transactions == 2


async def test_write_returns_after_the_commit(store: Store) -> None:  # noqa: F811
    writer = AuditWriter(store)
    await writer.write([_record(1), _record(2)])
    assert await _count(store) == 2
    await writer.write([])
    assert await _count(store) == 2


async def test_a_failing_batch_fails_its_callers_only(store: Store) -> None:  # noqa: F811
    counting = CountingStore(store)
    gate = Gate()
    counting.gates = [gate]
    counting.fail = [False, True]
    writer = AuditWriter(counting)

    first = asyncio.create_task(writer.write([_record(0)]))
    await gate.arrived.wait()
    # Queued behind the first transaction: these go together in the second, which fails.
    queued = [asyncio.create_task(writer.write([_record(n)])) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    gate.release.set()
    await first
    results = await asyncio.gather(*queued, return_exceptions=True)

    assert [type(r) for r in results] == [RuntimeError] * 3
    assert counting.transactions == 2
    assert await _count(store) == 1
    # The writer carries on after a failure.
    await writer.write([_record(9)])
    assert await _count(store) == 2


async def test_a_cancelled_leader_leaves_the_others_records_queued(
    store: Store,  # noqa: F811
) -> None:
    counting = CountingStore(store)
    first_gate, second_gate = Gate(), Gate()
    counting.gates = [first_gate, second_gate]
    writer = AuditWriter(counting)

    first = asyncio.create_task(writer.write([_record(0)]))
    await first_gate.arrived.wait()
    leader, *others = [asyncio.create_task(writer.write([_record(n)])) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    first_gate.release.set()
    await first
    await second_gate.arrived.wait()  # the next leader took all three and waits at its gate
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    await asyncio.gather(*others)

    assert counting.transactions == 3
    recorded = sorted(e["recorded"] for e in await search(store, "AuditEvent", []))
    # The first, and the two whose leader was cancelled before it began its transaction.
    assert recorded == [
        "2026-11-28T10:00:00.000Z",
        "2026-11-28T10:02:00.000Z",
        "2026-11-28T10:03:00.000Z",
    ]
