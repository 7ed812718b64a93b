"""The repository's queue of INSERTs (store/repository.py), on both databases.

Writes queue their rows; the queue goes out, one INSERT per table, before any other statement
and before the commit, so every read sees what the transaction wrote before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from patientkontrakt.config import Settings
from patientkontrakt.outcomes import FhirError
from patientkontrakt.search.indexer import index_rows
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.tables import resource, resource_version
from patientkontrakt.store.transactions import Store
from tests.statements import inserts_into, sent_statements

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A store on the backend's emptied database."""
    store = Store(create_engine(settings.resolved_database_url()))
    yield store
    await store.dispose()


def goal(goal_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": goal_id,
        "lifecycleStatus": "active",
        "description": {"text": "Promenera 30 minuter om dagen"},
        "subject": {"reference": "Patient/tolvan"},
    }


async def write_goal(repo: Repository, goal_id: str) -> None:
    body = goal(goal_id)
    await repo.write(
        "Goal", goal_id, body, previous=None, method="PUT", index=index_rows("Goal", goal_id, body)
    )


def count_of(resource_type: str) -> Any:
    return select(func.count()).where(resource.c.resource_type == resource_type)


async def test_writes_go_out_together_before_the_commit(store: Store) -> None:
    with sent_statements(store.engine) as sent:
        async with store.writing() as repo:
            for n in range(25):
                await write_goal(repo, f"goal-{n}")
    assert inserts_into(sent, "resource_version") == 1, sent
    assert inserts_into(sent, "resource") == 1, sent
    assert inserts_into(sent, "reference_index") == 1, sent
    async with store.reading() as repo:
        assert (await repo.fetch(count_of("Goal")))[0][0] == 25
        stored = await repo.current("Goal", "goal-24")
    assert stored is not None
    assert stored.version_id == 1


async def test_a_read_sees_what_the_transaction_wrote_before_it(store: Store) -> None:
    async with store.writing() as repo:
        await write_goal(repo, "goal-a")
        assert (await repo.fetch(count_of("Goal")))[0][0] == 1
        current = await repo.current("Goal", "goal-a")
        assert current is not None
        assert current.version_id == 1


async def test_a_read_of_other_types_leaves_the_queue_alone(store: Store) -> None:
    """`fetch(..., reads=...)`: queued Goals cannot change a count of CarePlans, so they wait;
    a read that may see Goals sends them first."""
    async with store.writing() as repo:
        await write_goal(repo, "goal-b")
        with sent_statements(store.engine) as sent:
            plans = await repo.fetch(count_of("CarePlan"), reads=frozenset({"CarePlan"}))
        assert plans[0][0] == 0
        assert inserts_into(sent, "resource") == 0, sent
        with sent_statements(store.engine) as sent:
            goals = await repo.fetch(count_of("Goal"), reads=frozenset({"Goal"}))
        assert goals[0][0] == 1
        assert inserts_into(sent, "resource") == 1, sent


async def test_a_failed_transaction_leaves_nothing_of_its_queue(store: Store) -> None:
    async def fail_after_two_goals() -> None:
        async with store.writing() as repo:
            await write_goal(repo, "goal-c")
            await repo.fetch(count_of("Goal"))  # sent, inside the transaction
            await write_goal(repo, "goal-d")  # still queued
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await fail_after_two_goals()
    async with store.reading() as repo:
        assert (await repo.fetch(count_of("Goal")))[0][0] == 0
        assert (await repo.fetch(select(func.count()).select_from(resource_version)))[0][0] == 0


async def test_an_id_taken_meanwhile_is_a_409_and_nothing_of_the_transaction_stays(
    store: Store,
) -> None:
    async with store.writing() as repo:
        await write_goal(repo, "goal-taken")

    async def create_two() -> None:
        async with store.writing() as repo:
            await write_goal(repo, "goal-new")
            await write_goal(repo, "goal-taken")  # as a create that lost a race

    with pytest.raises(FhirError) as refused:
        await create_two()
    assert refused.value.status == 409
    assert "Goal/goal-new, Goal/goal-taken" in refused.value.issues[0].diagnostics
    async with store.reading() as repo:
        assert await repo.current("Goal", "goal-new") is None
        assert (await repo.fetch(count_of("Goal")))[0][0] == 1


async def test_locked_current_versions_serve_the_writes_that_follow(store: Store) -> None:
    async with store.writing() as repo:
        await write_goal(repo, "goal-e")
    async with store.writing() as repo:
        with sent_statements(store.engine) as sent:
            await repo.lock_current([("Goal", "goal-e"), ("Goal", "goal-unknown")])
            known = await repo.current("Goal", "goal-e", for_update=True)
            unknown = await repo.current("Goal", "goal-unknown", for_update=True)
        assert len(sent) == 1, sent
        assert known is not None
        assert known.version_id == 1
        assert unknown is None
        body = goal("goal-e")
        await repo.write(
            "Goal",
            "goal-e",
            body,
            previous=known,
            method="PUT",
            index=index_rows("Goal", "goal-e", body),
        )
        again = await repo.current("Goal", "goal-e", for_update=True)
    assert again is not None
    assert again.version_id == 2
