"""The review decisions table: an engineer's verdict on a recorded inspection (confirmed defect or false alarm),
undone by setting ``undone_at``; at most one decision per record is not undone."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "review_decisions"
INDEXED = ("record_id", "decided_at")
STANDING_INDEX = f"uq_{TABLE}_standing_record_id"
STANDING = sa.text("undone_at IS NULL")


def upgrade() -> None:
    """Create the table, its decision check, the key to the inspection records and the queue's indexes."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("defect_type", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint("decision IN ('defect', 'false_alarm')", name=op.f(f"ck_{TABLE}_decision")),
        sa.ForeignKeyConstraint(
            ["record_id"], ["inspection_records.id"], name=op.f(f"fk_{TABLE}_record_id_inspection_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    for column in INDEXED:
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column])
    op.create_index(STANDING_INDEX, TABLE, ["record_id"], unique=True, sqlite_where=STANDING, postgresql_where=STANDING)


def downgrade() -> None:
    """Drop the table with its indexes."""
    op.drop_index(STANDING_INDEX, table_name=TABLE)
    for column in INDEXED:
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)
