"""Extended statistics on the index tables' kind columns (PostgreSQL).

PostgreSQL multiplies the selectivities of `resource_type`, `param`, `system` and `code` as if
they were independent: it estimated one CareTeam row for `participant-role=...|fast-lakarkontakt`
where there were 10,278, ran `CareTeam?patient=X&status=active&participant-role=...` (the fast
läkarkontakt rule, on every CareTeam write) from that side, and took 205 ms at 10,000 patients
instead of 0.2 ms. Multi-column statistics (most common value combinations and functional
dependencies) give it the real counts. SQLite has no such statistics; its planner is not misled
the same way (it does not estimate from value counts unless ANALYZE was run).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS = {
    "token_index": ("resource_type", "param", "system", "code"),
    "reference_index": ("resource_type", "param", "target_type"),
    "string_index": ("resource_type", "param"),
    "date_index": ("resource_type", "param"),
    "number_index": ("resource_type", "param"),
    "uri_index": ("resource_type", "param"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in STATISTICS.items():
        op.execute(
            f"CREATE STATISTICS st_{table}_kind (mcv, dependencies) "
            f"ON {', '.join(columns)} FROM {table}"
        )
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS st_{table}_kind")
