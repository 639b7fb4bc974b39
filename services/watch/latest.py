"""What the Live page shows: the watcher's latest inspections (one per file, each model's record) and NG rates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from services.modeling.model_table import MODEL_NAMES
from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.store import RecordStore
from services.watch.inspector import WATCH_OPERATOR


@dataclass(frozen=True)
class WatchedFile:
    """One file the watcher inspected: its name, image, part and lot, and each model's record."""

    image_name: str
    image_sha256: str
    part_id: str
    lot_id: str
    records: dict[str, InspectionRecord] = field(default_factory=dict)

    @property
    def recorded_at(self) -> datetime:
        """When its last record was written (UTC)."""
        return max(record.recorded_at for record in self.records.values())


@dataclass(frozen=True)
class NgRate:
    """One model's NG and REVIEW counts over the files it judged."""

    model: str
    ng: int
    review: int
    judged: int

    @property
    def rate(self) -> float:
        """NG share of the judged files (0 where none was judged)."""
        return self.ng / self.judged if self.judged else 0.0


def _model_rank(model: str) -> int:
    """A model's place in the model table (an unknown one last)."""
    return MODEL_NAMES.index(model) if model in MODEL_NAMES else len(MODEL_NAMES)


def group_files(records: list[InspectionRecord]) -> list[WatchedFile]:
    """Records (newest first) grouped per inspected file: the same image and name, one record per model (in the
    model table's order); a second record of a model starts another file (the same bytes arrived again)."""
    files: list[WatchedFile] = []
    open_files: dict[tuple[str, str], WatchedFile] = {}
    for record in records:
        key = (record.image_sha256, record.image_name)
        current = open_files.get(key)
        if current is None or record.model in current.records:
            current = WatchedFile(record.image_name, record.image_sha256, record.part_id, record.lot_id)
            open_files[key] = current
            files.append(current)
        current.records[record.model] = record
    return [
        replace(file, records=dict(sorted(file.records.items(), key=lambda item: _model_rank(item[0]))))
        for file in files
    ]


def latest_files(store: RecordStore, product: str, last_n: int) -> list[WatchedFile]:
    """The watcher's ``last_n`` newest files of ``product``, newest first (raises ``SQLAlchemyError`` where the
    database is down)."""
    records = store.query(RecordFilter(product=product, operator=WATCH_OPERATOR, limit=last_n * len(MODEL_NAMES)))
    return group_files(records)[:last_n]


def ng_rates(files: list[WatchedFile]) -> list[NgRate]:
    """Each model's NG rate over ``files``, in the model table's order."""
    rates = []
    for model in MODEL_NAMES:
        verdicts = [file.records[model].verdict for file in files if model in file.records]
        if verdicts:
            rates.append(NgRate(model, verdicts.count(Verdict.NG), verdicts.count(Verdict.REVIEW), len(verdicts)))
    return rates
