"""The SQL statements a block of code sends, for tests that hold the number of statements down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def sent_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs (BEGIN, COMMIT and ROLLBACK excluded)."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            sent.append(sql)

    target = engine.sync_engine
    event.listen(target, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", note)


def inserts_into(sent: list[str], table: str) -> int:
    """How many of `sent` are INSERTs into `table`."""
    return sum(1 for sql in sent if sql.split()[:3] == ["INSERT", "INTO", table])
