"""Index references by (type, param, target id), for searches that give a bare id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_reference_index_resource_type_param_target_id"


def upgrade() -> None:
    op.create_index(op.f(NAME), "reference_index", ["resource_type", "param", "target_id"])


def downgrade() -> None:
    op.drop_index(op.f(NAME), table_name="reference_index")
