"""The inspection records table: one row per inspected image and model."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE = "inspection_records"
INDEXED = ("image_sha256", "lot_id", "operator", "recorded_at", "verdict")


def upgrade() -> None:
    """Create the table, its verdict check, the unique dedup key and the indexes the History filters use."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("station", sa.String(length=128), nullable=False),
        sa.Column("part_id", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("operator", sa.String(length=128), nullable=True),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=512), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=True),
        sa.Column("backbone", sa.String(length=128), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("precision", sa.String(length=8), nullable=False),
        sa.Column("raw_score", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold_lower", sa.Float(), nullable=False),
        sa.Column("threshold_upper", sa.Float(), nullable=False),
        sa.Column("threshold_pixel", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("false_alarm_budget", sa.Float(), nullable=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("neighbour_vote", sa.JSON(), nullable=True),
        sa.Column("foreign_part", sa.Boolean(), nullable=True),
        sa.Column("dedup_key", sa.String(length=64), nullable=True),
        sa.CheckConstraint("verdict IN ('OK', 'NG', 'REVIEW')", name=op.f(f"ck_{TABLE}_verdict")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("dedup_key", name=op.f(f"uq_{TABLE}_dedup_key")),
    )
    for column in INDEXED:
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column])
    op.create_index(f"ix_{TABLE}_product_model", TABLE, ["product", "model"])


def downgrade() -> None:
    """Drop the table with its indexes."""
    op.drop_index(f"ix_{TABLE}_product_model", table_name=TABLE)
    for column in INDEXED:
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)
