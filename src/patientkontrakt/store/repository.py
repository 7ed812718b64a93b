"""Versioned resource storage: current rows, every version, and index rows in one transaction.

The stored JSON of a version is the body served; nothing here builds a pydantic model.

INSERTs are not sent one by one: a write queues its rows, and the queue goes out as one
multi-row INSERT per table just before the next other statement (a read, an UPDATE, a DELETE)
or the commit. Every statement still sees everything written before it, and consecutive writes,
such as the entries of a transaction Bundle or a write with its AuditEvent and Provenance, cost
a few statements together instead of several each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple, overload

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TypedReturnsRows

from patientkontrakt.outcomes import conflict
from patientkontrakt.store.tables import (
    INDEX_TABLES,
    RowFilter,
    reference_index,
    resource,
    resource_version,
)


@dataclass(frozen=True)
class StoredVersion:
    """One stored version of a resource."""

    resource_type: str
    resource_id: str
    version_id: int
    last_updated: dt.datetime
    deleted: bool
    content: bytes | None
    method: str = ""
    seq: int = 0

    @property
    def etag(self) -> str:
        """The weak ETag of this version, `W/"n"`."""
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        """`Type/id`."""
        return f"{self.resource_type}/{self.resource_id}"


def format_instant(moment: dt.datetime) -> str:
    """A FHIR instant in UTC with milliseconds, e.g. `2026-11-28T09:15:00.000Z`."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> dt.datetime:
    # Milliseconds: the precision shown in meta.lastUpdated, so stored and shown instants agree.
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class NewResource:
    """A validated resource to create, with its id and index rows (for `create_many`)."""

    resource_type: str
    resource_id: str
    body: dict[str, Any]
    index: Mapping[Table, list[dict[str, Any]]]
    method: str = "POST"


def _stamp(body: dict[str, Any], resource_id: str, version_id: int, moment: dt.datetime) -> bytes:
    """Set id, meta.versionId and meta.lastUpdated; the JSON bytes stored and served."""
    body["id"] = resource_id
    meta = body.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = format_instant(moment)
    body["meta"] = meta
    return orjson.dumps(_ordered(body))


_INSERT_ORDER = (resource_version, resource, *INDEX_TABLES)

_DELETE_INDEX_POSTGRES = select(literal(1)).add_cte(
    *(
        delete(table)
        .where(
            table.c.resource_type == bindparam("resource_type"),
            table.c.resource_id == bindparam("resource_id"),
        )
        .cte(f"gone_{table.name}")
        for table in INDEX_TABLES
    )
)
"""Every index row of one resource gone in one statement (PostgreSQL runs each DELETE of a
WITH clause whether or not the query reads it); SQLite takes one DELETE per table."""

_CURRENT = select(
    resource.c.version_id, resource.c.last_updated, resource.c.deleted, resource.c.content
).where(
    resource.c.resource_type == bindparam("resource_type"),
    resource.c.resource_id == bindparam("resource_id"),
)
"""One resource's current row. Built once: making the statement anew for every read cost
about a tenth of a read's time in SQLAlchemy's expression code."""
_CURRENT_FOR_UPDATE = _CURRENT.with_for_update()

Key = tuple[str, str]
_Ts = TypeVarTuple("_Ts")


class Repository:
    """Reads and versioned writes over one connection (and so one transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._before_commit: list[Callable[[Repository], Awaitable[None]]] = []
        self._queued: dict[Table, list[dict[str, Any]]] = {}
        self._queued_types: set[str] = set()
        self._locked: dict[Key, StoredVersion | None] = {}

    @overload
    async def _run(
        self, statement: TypedReturnsRows[*_Ts], params: Any = None
    ) -> CursorResult[*_Ts]: ...

    @overload
    async def _run(
        self, statement: Executable, params: Any = None
    ) -> CursorResult[*tuple[Any, ...]]: ...

    async def _run(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Send the queued INSERTs, then `statement`: it sees everything written before it."""
        await self.flush()
        return await self.conn.execute(statement, params)

    def _queue(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self._queued.setdefault(table, []).extend(rows)
        self._queued_types.update(row["resource_type"] for row in rows)

    async def flush(self) -> None:
        """Send the queued INSERTs, one multi-row statement per table. A new resource whose id
        another request took in the meantime fails them all with 409 (the transaction then
        rolls back whole)."""
        if not self._queued:
            return
        queued, self._queued = self._queued, {}
        self._queued_types = set()
        try:
            for table in _INSERT_ORDER:
                rows = queued.get(table)
                if rows:
                    await self.conn.execute(insert(table), rows)
        except IntegrityError as exc:
            new = [f"{r['resource_type']}/{r['resource_id']}" for r in queued.get(resource, [])]
            raise conflict(
                f"{', '.join(new[:5]) or 'A resource'} was written by another request at the "
                "same time; retry"
            ) from exc

    def before_commit(self, callback: Callable[[Repository], Awaitable[None]]) -> None:
        """Run `callback` once, in this transaction, just before it commits (e.g. to write the
        records of all its writes in one go); a failing callback rolls everything back."""
        if callback not in self._before_commit:
            self._before_commit.append(callback)

    async def run_before_commit(self) -> None:
        """The `before_commit` callbacks, in the order given, then the queued INSERTs;
        `Store.writing` calls this."""
        while self._before_commit:
            await self._before_commit.pop(0)(self)
        await self.flush()

    async def lock_current(self, keys: Sequence[Key]) -> None:
        """Read (and on PostgreSQL lock) the current versions of `keys` in one statement, for
        the `current(..., for_update=True)` calls of the writes that follow: a transaction
        Bundle's entries then need no SELECT each."""
        found = await self.current_many(keys, for_update=True)
        for key in keys:
            self._locked[key] = found.get(key)

    async def current(
        self, resource_type: str, resource_id: str, *, for_update: bool = False
    ) -> StoredVersion | None:
        """The current version (possibly a deletion), or None if the id never existed."""
        if for_update and (resource_type, resource_id) in self._locked:
            return self._locked.pop((resource_type, resource_id))
        stmt = _CURRENT_FOR_UPDATE if for_update else _CURRENT
        key = {"resource_type": resource_type, "resource_id": resource_id}
        row = (await self._run(stmt, key)).first()
        if row is None:
            return None
        return StoredVersion(resource_type, resource_id, row[0], row[1], row[2], row[3])

    async def current_many(
        self, keys: Sequence[Key], *, for_update: bool = False
    ) -> dict[Key, StoredVersion]:
        """The current versions of many (type, id) at once, in one statement; unknown ones are
        missing from the answer."""
        if not keys:
            return {}
        r = resource.c
        stmt = select(
            r.resource_type, r.resource_id, r.version_id, r.last_updated, r.deleted, r.content
        ).where(tuple_(r.resource_type, r.resource_id).in_(list(dict.fromkeys(keys))))
        if for_update:
            stmt = stmt.with_for_update()
        rows = await self._run(stmt)
        return {(row[0], row[1]): StoredVersion(*row) for row in rows}

    async def version(
        self, resource_type: str, resource_id: str, version_id: int
    ) -> StoredVersion | None:
        """One version by number, or None."""
        rv = resource_version.c
        row = (
            await self._run(
                select(rv.last_updated, rv.deleted, rv.content, rv.method, rv.seq).where(
                    rv.resource_type == resource_type,
                    rv.resource_id == resource_id,
                    rv.version_id == version_id,
                )
            )
        ).first()
        if row is None:
            return None
        return StoredVersion(
            resource_type, resource_id, version_id, row[0], row[1], row[2], row[3], row[4]
        )

    async def write(
        self,
        resource_type: str,
        resource_id: str,
        body: dict[str, Any],
        *,
        previous: StoredVersion | None,
        method: str,
        index: Mapping[Table, list[dict[str, Any]]],
    ) -> StoredVersion:
        """Store `body` as the next version after `previous` (None: a new resource).

        Sets `id`, `meta.versionId` and `meta.lastUpdated` in `body`, writes the version, the
        current row and its `index` rows (replacing the previous version's). A concurrent
        writer that got there first gives 409.
        """
        version_id = previous.version_id + 1 if previous else 1
        moment = _now()
        if previous is not None and moment < previous.last_updated:
            moment = previous.last_updated  # clocks of replicas may disagree slightly
        content = _stamp(body, resource_id, version_id, moment)
        stored = StoredVersion(
            resource_type, resource_id, version_id, moment, False, content, method
        )
        await self._append(stored, previous)
        await self._replace_index(resource_type, resource_id, previous, index)
        return stored

    async def create_many(self, items: Sequence[NewResource]) -> list[StoredVersion]:
        """Store new resources (ids unused so far), queued with the other INSERTs.

        The bulk path of `load`: a few statements per chunk instead of several per resource.
        An id that exists already fails the whole transaction with 409.
        """
        moment = _now()
        stored = [
            StoredVersion(
                item.resource_type,
                item.resource_id,
                1,
                moment,
                False,
                _stamp(item.body, item.resource_id, 1, moment),
                item.method,
            )
            for item in items
        ]
        if not stored:
            return stored
        rows = [
            {
                "resource_type": s.resource_type,
                "resource_id": s.resource_id,
                "version_id": 1,
                "last_updated": moment,
                "deleted": False,
                "content": s.content,
            }
            for s in stored
        ]
        self._queue(
            resource_version,
            [{**row, "method": s.method} for row, s in zip(rows, stored, strict=True)],
        )
        self._queue(resource, rows)
        for item in items:
            for table, table_rows in item.index.items():
                self._queue(table, table_rows)
        return stored

    async def current_batch(
        self, *, after: tuple[str, str] | None, limit: int, resource_type: str | None
    ) -> list[StoredVersion]:
        """Current, non-deleted resources in (type, id) order after `after`, for reindexing."""
        r = resource.c
        stmt = select(
            r.resource_type, r.resource_id, r.version_id, r.last_updated, r.content
        ).where(r.deleted.is_(False))
        if resource_type is not None:
            stmt = stmt.where(r.resource_type == resource_type)
        if after is not None:
            stmt = stmt.where(tuple_(r.resource_type, r.resource_id) > tuple_(*after))
        rows = await self._run(stmt.order_by(r.resource_type, r.resource_id).limit(limit))
        return [StoredVersion(t, i, v, u, False, c) for t, i, v, u, c in rows]

    async def count_current(self, resource_type: str | None) -> int:
        """How many current, non-deleted resources there are (of one type, or all)."""
        stmt = select(func.count()).select_from(resource).where(resource.c.deleted.is_(False))
        if resource_type is not None:
            stmt = stmt.where(resource.c.resource_type == resource_type)
        return int((await self._run(stmt)).scalar_one())

    async def replace_index_many(
        self, keys: Sequence[tuple[str, str]], index: Mapping[Table, list[dict[str, Any]]]
    ) -> None:
        """Replace the index rows of many resources: one DELETE and one INSERT per table."""
        for table in INDEX_TABLES:
            await self._run(
                delete(table).where(tuple_(table.c.resource_type, table.c.resource_id).in_(keys))
            )
            self._queue(table, index.get(table, []))
        await self.flush()

    async def existing_ids(self, resource_type: str, ids: Sequence[str]) -> set[str]:
        """Which of `ids` have a row (current or deleted) for `resource_type`."""
        if not ids:
            return set()
        found = await self._run(
            select(resource.c.resource_id).where(
                resource.c.resource_type == resource_type, resource.c.resource_id.in_(ids)
            )
        )
        return set(found.scalars().all())

    async def deleted_contents(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes]:
        """For those of the resources `keys` whose current version is a deletion, the content of
        their last version before it: one statement (e.g. to name the patients of a resource
        read just before it was deleted, whose index rows are gone)."""
        if not keys:
            return {}
        r, rv = resource.c, resource_version.c
        last = (
            select(rv.resource_type, rv.resource_id, func.max(rv.version_id).label("version_id"))
            .join(
                resource,
                and_(r.resource_type == rv.resource_type, r.resource_id == rv.resource_id),
            )
            .where(
                r.deleted.is_(True),
                rv.deleted.is_(False),
                tuple_(r.resource_type, r.resource_id).in_(list(keys)),
            )
            .group_by(rv.resource_type, rv.resource_id)
            .subquery()
        )
        rows = await self._run(
            select(rv.resource_type, rv.resource_id, rv.content).join(
                last,
                and_(
                    rv.resource_type == last.c.resource_type,
                    rv.resource_id == last.c.resource_id,
                    rv.version_id == last.c.version_id,
                ),
            )
        )
        return {(t, i): bytes(c) for t, i, c in rows if c is not None}

    async def reference_targets(
        self,
        keys: Sequence[tuple[str, str]],
        params: Sequence[tuple[str, str]],
        target_type: str,
        *,
        base_url: str = "",
    ) -> list[tuple[str, str, str]]:
        """(source type, source id, target id) of the local `target_type` references that the
        resources `keys` hold in the (source type, parameter) pairs `params`: one statement.

        E.g. the Patients whose compartment each resource is in, for audit records.
        """
        if not keys or not params:
            return []
        ri = reference_index.c
        local: ColumnElement[bool] = ri.target_url.is_(None)
        if base_url:
            local = or_(local, ri.target_url.startswith(base_url + "/", autoescape=True))
        stmt = (
            select(ri.resource_type, ri.resource_id, ri.target_id)
            .where(
                tuple_(ri.resource_type, ri.resource_id).in_(keys),
                tuple_(ri.resource_type, ri.param).in_(params),
                ri.target_type == target_type,
                ri.target_id.is_not(None),
                local,
            )
            .distinct()
        )
        return [(t, i, target) for t, i, target in await self._run(stmt)]

    async def delete(self, previous: StoredVersion) -> StoredVersion:
        """Record a deletion as the next version of `previous`."""
        moment = max(_now(), previous.last_updated)
        stored = StoredVersion(
            previous.resource_type,
            previous.resource_id,
            previous.version_id + 1,
            moment,
            True,
            None,
            "DELETE",
        )
        await self._append(stored, previous)
        await self._replace_index(previous.resource_type, previous.resource_id, previous, {})
        return stored

    async def _append(self, stored: StoredVersion, previous: StoredVersion | None) -> None:
        values = {
            "resource_type": stored.resource_type,
            "resource_id": stored.resource_id,
            "version_id": stored.version_id,
            "last_updated": stored.last_updated,
            "deleted": stored.deleted,
            "content": stored.content,
        }
        self._locked.pop((stored.resource_type, stored.resource_id), None)
        self._queue(resource_version, [{**values, "method": stored.method}])
        if previous is None:
            self._queue(resource, [values])
            return
        result = await self._run(
            update(resource)
            .where(
                resource.c.resource_type == stored.resource_type,
                resource.c.resource_id == stored.resource_id,
                resource.c.version_id == previous.version_id,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise conflict(f"{stored.reference} was changed by another request; retry")

    async def _replace_index(
        self,
        resource_type: str,
        resource_id: str,
        previous: StoredVersion | None,
        index: Mapping[Table, list[dict[str, Any]]],
    ) -> None:
        # A new (or re-created) resource has no rows to remove: skip the DELETEs of a create.
        if previous is not None and not previous.deleted:
            await self.delete_index(resource_type, resource_id)
        for table, rows in index.items():
            self._queue(table, rows)

    async def delete_index(self, resource_type: str, resource_id: str) -> None:
        """Remove every index row of a resource."""
        if self.conn.dialect.name == "postgresql":
            params = {"resource_type": resource_type, "resource_id": resource_id}
            await self._run(_DELETE_INDEX_POSTGRES, params)
            return
        for table in INDEX_TABLES:
            await self._run(
                delete(table).where(
                    table.c.resource_type == resource_type, table.c.resource_id == resource_id
                )
            )

    async def serialize(self, key: str) -> None:
        """Hold a lock on `key` until this transaction ends, so writers keyed alike queue up.

        PostgreSQL takes an advisory lock; SQLite needs none, as BEGIN IMMEDIATE already lets
        one writer in at a time.
        """
        if self.conn.dialect.name == "postgresql":
            # A lock reads no rows: the queued INSERTs need not go first.
            await self.conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))

    async def fetch(
        self, statement: Executable, *, reads: frozenset[str] | None = None
    ) -> Sequence[Row[Any]]:
        """All rows of a read statement built by the search compiler.

        `reads`: the only resource types whose rows the statement reads, when the caller knows
        them. Queued INSERTs of other types cannot change its answer and stay queued, so a
        transaction Bundle's Appointments are not sent one by one because each is checked
        against the CarePlans.
        """
        if reads is not None and self._queued_types.isdisjoint(reads):
            return (await self.conn.execute(statement)).all()
        return (await self._run(statement)).all()

    async def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: dt.datetime | None,
        before_seq: int | None,
        count: int,
        visible: RowFilter | None = None,
        excluded_types: Sequence[str] = (),
    ) -> list[StoredVersion]:
        """Versions newest first, at system, type or instance level; `count` at most.

        `visible` limits them to versions of resources whose current row it accepts;
        `excluded_types` leaves types out of the system level.
        """
        rv = resource_version.c
        stmt = select(
            rv.resource_type,
            rv.resource_id,
            rv.version_id,
            rv.last_updated,
            rv.deleted,
            rv.content,
            rv.method,
            rv.seq,
        )
        if resource_type is not None:
            stmt = stmt.where(rv.resource_type == resource_type)
        elif excluded_types:
            stmt = stmt.where(rv.resource_type.not_in(excluded_types))
        if resource_id is not None:
            stmt = stmt.where(rv.resource_id == resource_id)
        if since is not None:
            stmt = stmt.where(rv.last_updated >= since)
        if before_seq is not None:
            stmt = stmt.where(rv.seq < before_seq)
        if visible is not None:
            current = resource.alias("visible_current")
            shown = select(current.c.resource_type, current.c.resource_id).where(visible(current))
            stmt = stmt.where(tuple_(rv.resource_type, rv.resource_id).in_(shown))
        stmt = stmt.order_by(rv.seq.desc()).limit(count)
        rows = (await self._run(stmt)).all()
        return [StoredVersion(*row) for row in rows]


def _ordered(body: dict[str, Any]) -> dict[str, Any]:
    # resourceType, id and meta first, as FHIR JSON examples show them; the rest as given.
    head: dict[str, Any] = {k: body[k] for k in ("resourceType", "id", "meta") if k in body}
    head.update((k, v) for k, v in body.items() if k not in head)
    return head
