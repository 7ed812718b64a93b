"""Search index tables: string, reference, date, number/quantity, uri; token gains text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEX_TEXT = sa.String(512).with_variant(sa.String(512, collation="C"), "postgresql")


def _index_table(name: str, columns: list[sa.Column], indexes: list[list[str]]) -> None:
    op.create_table(
        name,
        sa.Column("row_id", SEQUENCE_INTEGER, autoincrement=True, nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("row_id", name=op.f(f"pk_{name}")),
    )
    for cols in [["resource_type", "resource_id"], *indexes]:
        op.create_index(op.f(f"ix_{name}_{'_'.join(cols)}"), name, cols)


def upgrade() -> None:
    _index_table(
        "string_index",
        [
            sa.Column("value", INDEX_TEXT, nullable=False),
            sa.Column("exact", sa.String(512), nullable=False),
        ],
        [["resource_type", "param", "value"]],
    )
    _index_table(
        "reference_index",
        [
            sa.Column("target_type", sa.String(64), nullable=True),
            sa.Column("target_id", sa.String(64), nullable=True),
            sa.Column("target_url", sa.String(1024), nullable=True),
        ],
        [
            ["target_type", "target_id", "param", "resource_type"],
            ["resource_type", "param", "target_url"],
        ],
    )
    _index_table(
        "date_index",
        [
            sa.Column("low", sa.DateTime(timezone=True), nullable=False),
            sa.Column("high", sa.DateTime(timezone=True), nullable=False),
        ],
        [["resource_type", "param", "low", "high"]],
    )
    _index_table(
        "number_index",
        [
            sa.Column("value", sa.Float(precision=53), nullable=False),
            sa.Column("system", sa.String(512), nullable=True),
            sa.Column("code", sa.String(512), nullable=True),
            sa.Column("unit", sa.String(512), nullable=True),
        ],
        [["resource_type", "param", "value"]],
    )
    _index_table(
        "uri_index",
        [sa.Column("value", sa.String(1024), nullable=False)],
        [["resource_type", "param", "value"]],
    )
    with op.batch_alter_table("token_index") as batch_op:
        batch_op.add_column(sa.Column("text", INDEX_TEXT, nullable=True))
        batch_op.alter_column("code", existing_type=sa.String(512), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("token_index") as batch_op:
        batch_op.alter_column("code", existing_type=sa.String(512), nullable=False)
        batch_op.drop_column("text")
    for name in ("uri_index", "number_index", "date_index", "reference_index", "string_index"):
        op.drop_table(name)
