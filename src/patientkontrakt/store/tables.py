"""SQLAlchemy Core tables. The schema itself is created only by the Alembic migrations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant stored in UTC: timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
SequenceInteger = BigInteger().with_variant(Integer(), "sqlite")

resource_version = Table(
    "resource_version",
    metadata,
    Column("seq", SequenceInteger, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UTCDateTime(), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("method", String(8), nullable=False),
    # The exact JSON bytes served for this version; null for a deletion.
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("resource_type", "resource_id", "version_id"),
    Index(None, "resource_type", "seq"),
    Index(None, "last_updated"),
)
"""Every version of every resource (history); `seq` orders the whole store's history."""

resource = Table(
    "resource",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("resource_id", String(64), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UTCDateTime(), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", LargeBinary, nullable=True),
)
"""The current version of each resource, so a read is one primary-key lookup."""

# Index text compares byte by byte on both databases ("C" collation on PostgreSQL), so prefix
# ranges use the b-tree and Swedish sort keys (see search/strings.py) order as built.
IndexText = String(512).with_variant(String(512, collation="C"), "postgresql")


def _index_table(name: str, *columns: Column[Any], indexes: list[tuple[str, ...]]) -> Table:
    """An index table: rows of current, non-deleted resources, written with their version."""
    return Table(
        name,
        metadata,
        Column("row_id", SequenceInteger, primary_key=True, autoincrement=True),
        Column("resource_type", String(64), nullable=False),
        Column("resource_id", String(64), nullable=False),
        Column("param", String(64), nullable=False),
        *columns,
        Index(None, "resource_type", "resource_id"),
        *(Index(None, *cols) for cols in indexes),
    )


token_index = _index_table(
    "token_index",
    Column("system", String(512), nullable=True),
    Column("code", String(512), nullable=True),
    # Normalised display/text, for the :text modifier.
    Column("text", IndexText, nullable=True),
    indexes=[("resource_type", "param", "code", "system")],
)
"""Token values (codes, identifiers, booleans); `code` is null for a text-only concept."""

string_index = _index_table(
    "string_index",
    Column("value", IndexText, nullable=False),
    Column("exact", String(512), nullable=False),
    indexes=[("resource_type", "param", "value")],
)
"""String values: `value` normalised for search and Swedish sorting, `exact` as written."""

reference_index = _index_table(
    "reference_index",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("target_url", String(1024), nullable=True),
    indexes=[
        ("target_type", "target_id", "param", "resource_type"),
        ("resource_type", "param", "target_url"),
        # `patient=123` names no type: the lookup starts from the id.
        ("resource_type", "param", "target_id"),
    ],
)
"""References: local `Type/id` targets, or the URL of an absolute or canonical reference."""

date_index = _index_table(
    "date_index",
    Column("low", UTCDateTime(), nullable=False),
    Column("high", UTCDateTime(), nullable=False),
    indexes=[("resource_type", "param", "low", "high")],
)
"""Date ranges as half-open UTC intervals [low, high) from the value's precision."""

number_index = _index_table(
    "number_index",
    Column("value", Float(53), nullable=False),
    Column("system", String(512), nullable=True),
    Column("code", String(512), nullable=True),
    Column("unit", String(512), nullable=True),
    indexes=[("resource_type", "param", "value")],
)
"""Numbers and quantities (a quantity also has its unit system, code and unit)."""

uri_index = _index_table(
    "uri_index",
    Column("value", String(1024), nullable=False),
    indexes=[("resource_type", "param", "value")],
)
"""URIs and canonicals."""

INDEX_TABLES = (token_index, string_index, reference_index, date_index, number_index, uri_index)


RowFilter = Callable[[FromClause], ColumnElement[bool]]
"""A condition on an alias of the `resource` table, e.g. which rows a caller may see."""
