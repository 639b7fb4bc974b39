"""The users table: who may sign in, with which role, an argon2 password hash and the lock-out state."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "users"


def upgrade() -> None:
    """Create the table with its role check."""
    op.create_table(
        TABLE,
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('operator', 'engineer', 'admin')", name=op.f(f"ck_{TABLE}_role")),
        sa.PrimaryKeyConstraint("name", name=op.f(f"pk_{TABLE}")),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table(TABLE)
