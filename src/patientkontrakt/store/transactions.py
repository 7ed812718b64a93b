"""Units of work: a repository bound to one connection, read-only or in a write transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from patientkontrakt.store.database import WRITE_OPTION
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.tables import INDEX_TABLES, resource, resource_version

STORE_TABLES = (resource, resource_version, *INDEX_TABLES)


class Store:
    """Hands out repositories; everything done through one `writing()` commits or rolls back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Repository]:
        """A repository for reads; nothing it does is committed.

        On PostgreSQL reads run in autocommit: each is one statement, so BEGIN and ROLLBACK
        would only add two round trips.
        """
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield Repository(conn)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Repository]:
        """A repository in one write transaction: committed on success, rolled back on error."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                repo = Repository(conn)
                yield repo
                await repo.run_before_commit()

    async def refresh_statistics(self) -> None:
        """Have PostgreSQL's planner count the rows again, after a bulk load.

        Until autovacuum gets to a freshly loaded table (a minute or more), the planner works
        from the counts of the empty table and picks plans that take hundreds of milliseconds
        a search: measured after the benchmark's load of 10,204 resources, `CarePlan?patient=X
        &status=active` took 208 ms instead of 1.7. SQLite keeps no such statistics unless
        asked to, and plans from its indexes alone.
        """
        if self.engine.dialect.name != "postgresql":
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in STORE_TABLES:
                await conn.execute(text(f"ANALYZE {table.name}"))

    async def dispose(self) -> None:
        """Close the engine's connections."""
        await self.engine.dispose()
