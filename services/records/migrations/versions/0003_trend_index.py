"""An index covering the History trend: time, verdict and gate answer of every record, so the NG rate and REVIEW count
over time are counted from the index instead of the wide rows (regions and votes as JSON)."""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "inspection_records"
INDEX = f"ix_{TABLE}_recorded_at_verdict_foreign_part"
COLUMNS = ["recorded_at", "verdict", "foreign_part"]


def upgrade() -> None:
    """Create the covering index."""
    op.create_index(INDEX, TABLE, COLUMNS)


def downgrade() -> None:
    """Drop it."""
    op.drop_index(INDEX, table_name=TABLE)
