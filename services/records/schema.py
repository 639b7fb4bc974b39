"""The SQLAlchemy ORM tables of inspection records, their review decisions and the users who sign in; their schema is
created and changed only by the migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.access import Role
from services.postprocessing.verdict import Verdict

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}
"""Constraint names fixed here, so migrations name them alike on SQLite and PostgreSQL."""
VERDICTS = ", ".join(f"'{verdict.value}'" for verdict in Verdict)
DECISIONS = ("defect", "false_alarm")
"""The review decisions a row may hold (``services.records.review.Decision``)."""
STANDING = text("undone_at IS NULL")
ROLES = ", ".join(f"'{role.value}'" for role in Role)
"""A decision that is not undone: at most one per record."""


class Base(DeclarativeBase):
    """The records' declarative base."""

    metadata = MetaData(naming_convention=NAMING)


class InspectionRow(Base):
    """One inspected image judged by one model run (fields: :class:`services.records.record.InspectionRecord`)."""

    __tablename__ = "inspection_records"
    __table_args__ = (
        CheckConstraint(f"verdict IN ({VERDICTS})", name="verdict"),
        Index("ix_inspection_records_product_model", "product", "model"),
        Index("ix_inspection_records_recorded_at_verdict_foreign_part", "recorded_at", "verdict", "foreign_part"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    station: Mapped[str] = mapped_column(String(128))
    part_id: Mapped[str] = mapped_column(String(128))
    lot_id: Mapped[str] = mapped_column(String(128), index=True)
    operator: Mapped[str | None] = mapped_column(String(128), index=True)
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_name: Mapped[str] = mapped_column(String(512))
    product: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(512))
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    backbone: Mapped[str] = mapped_column(String(128))
    backend: Mapped[str] = mapped_column(String(16))
    precision: Mapped[str] = mapped_column(String(8))
    raw_score: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    threshold_lower: Mapped[float] = mapped_column(Float)
    threshold_upper: Mapped[float] = mapped_column(Float)
    threshold_pixel: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(8), index=True)
    false_alarm_budget: Mapped[float | None] = mapped_column(Float)
    regions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    neighbour_vote: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    foreign_part: Mapped[bool | None] = mapped_column(Boolean)
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class ReviewDecisionRow(Base):
    """One review decision on a record (fields: :class:`services.records.review.ReviewDecision`); a partial unique
    index lets each record have at most one decision that is not undone."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ({})".format(", ".join(f"'{name}'" for name in DECISIONS)), name="decision"),
        Index(
            "uq_review_decisions_standing_record_id",
            "record_id",
            unique=True,
            sqlite_where=STANDING,
            postgresql_where=STANDING,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), ForeignKey(InspectionRow.id), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    defect_type: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[str | None] = mapped_column(String(128))


class UserRow(Base):
    """One user who may sign in (fields: :class:`services.records.users.UserAccount`): an argon2 hash of the password,
    never the password, and the wrong passwords in a row with the time a lock-out ends, so a lock-out holds across
    browser sessions and server restarts."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN ({ROLES})", name="role"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
