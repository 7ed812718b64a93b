"""Initial schema: resource versions, current resources, token index.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", name=op.f("pk_resource")),
    )
    op.create_table(
        "resource_version",
        sa.Column("seq", SEQUENCE_INTEGER, autoincrement=True, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_resource_version")),
        sa.UniqueConstraint(
            "resource_type",
            "resource_id",
            "version_id",
            name=op.f("uq_resource_version_resource_type_resource_id_version_id"),
        ),
    )
    op.create_index(op.f("ix_resource_version_last_updated"), "resource_version", ["last_updated"])
    op.create_index(
        op.f("ix_resource_version_resource_type_seq"), "resource_version", ["resource_type", "seq"]
    )
    op.create_table(
        "token_index",
        sa.Column("row_id", SEQUENCE_INTEGER, autoincrement=True, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=512), nullable=True),
        sa.Column("code", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_token_index")),
    )
    op.create_index(
        op.f("ix_token_index_resource_type_param_code_system"),
        "token_index",
        ["resource_type", "param", "code", "system"],
    )
    op.create_index(
        op.f("ix_token_index_resource_type_resource_id"),
        "token_index",
        ["resource_type", "resource_id"],
    )


def downgrade() -> None:
    op.drop_table("token_index")
    op.drop_table("resource_version")
    op.drop_table("resource")
