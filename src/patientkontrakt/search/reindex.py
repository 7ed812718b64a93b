"""Rebuilding the search index tables from the stored resources (`patientkontrakt reindex`).

Needed after a SearchParameter is added or its expression changes. Works in batches, each in
its own transaction, so a large store is reindexed without one huge transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Table

from patientkontrakt.search.indexer import index_rows
from patientkontrakt.store.transactions import Store


async def reindex(
    store: Store,
    *,
    resource_type: str | None = None,
    batch_size: int = 500,
    on_total: Callable[[int], None] = lambda _n: None,
    on_batch: Callable[[int], None] = lambda _n: None,
) -> int:
    """Recompute every index row of current resources; returns how many were reindexed."""
    async with store.reading() as repo:
        on_total(await repo.count_current(resource_type))
    after: tuple[str, str] | None = None
    done = 0
    while True:
        async with store.writing() as repo:
            batch = await repo.current_batch(
                after=after, limit=batch_size, resource_type=resource_type
            )
            if not batch:
                return done
            grouped: dict[Table, list[dict[str, Any]]] = {}
            for stored in batch:
                assert stored.content is not None
                body = orjson.loads(stored.content)
                for table, rows in index_rows(
                    stored.resource_type, stored.resource_id, body
                ).items():
                    grouped.setdefault(table, []).extend(rows)
            await repo.replace_index_many(
                [(s.resource_type, s.resource_id) for s in batch], grouped
            )
        after = (batch[-1].resource_type, batch[-1].resource_id)
        done += len(batch)
        on_batch(len(batch))
