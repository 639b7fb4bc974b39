"""Complete files inspected by the product's default runs (the Detector the pages use) and recorded.

Each record names the station, the part and lot id found in the file name (``ANOMALYLENS_PART_ID_PATTERN``), the
operator :data:`WATCH_OPERATOR` (no person judged it) and the false-alarm budget's thresholds, as the Inspect page
judges by default. Its dedup key holds the file version (path, size, mtime) and the image's sha256, so the database
refuses a second record of the same version whatever happens to the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.access import WATCH_OPERATOR
from services.data.images import LoadedImage
from services.inference.detector import Detector, Prediction
from services.modeling.model_table import MODEL_NAMES
from services.postprocessing.verdict import Verdict
from services.records.capture import InspectionContext, ThresholdBand, inspection_record
from services.records.part_id import parsed_part_id
from services.records.record import InspectionRecord
from services.records.store import RecordStatus, RecordStore
from services.registry.run_calibration import fitted_budget
from services.registry.runs import Run, latest_runs
from services.settings import Settings
from services.watch.arrivals import FileVersion
from services.watch.ledger import WatchError

DetectorFactory = Callable[[Run, Settings], Detector]


def default_runs(
    settings: Settings, category: str, models: Sequence[str] | None = None, dataset: str | None = None
) -> dict[str, Run]:
    """The newest run of each chosen model for the product (every model that has one by default), as the pages use;
    raises ``WatchError`` naming what the registry holds where a product, model or dataset has no run."""
    found = {key: run for key, run in latest_runs(settings, dataset).items() if key[2] == category}
    datasets = sorted({name for name, _, _ in found})
    where = f"dataset '{dataset}'" if dataset else f"the registry {settings.registry_dir}"
    if not found:
        products = sorted({product for _, _, product in latest_runs(settings, dataset)})
        raise WatchError(
            f"product '{category}' has no trained run in {where}; products with runs: "
            f"{', '.join(products) or 'none (train one with `python -m services.cli train`)'}"
        )
    if len(datasets) > 1:
        raise WatchError(
            f"product '{category}' has runs in several datasets ({', '.join(datasets)}); choose one with --dataset"
        )
    available = {model: run for (_, model, _), run in found.items()}
    chosen = list(models) if models else [model for model in MODEL_NAMES if model in available]
    missing = [model for model in chosen if model not in available]
    if missing:
        raise WatchError(
            f"product '{category}' has no {', '.join(missing)} run in {where}; models with a run: "
            f"{', '.join(model for model in MODEL_NAMES if model in available)}"
        )
    return {model: available[model] for model in chosen}


@dataclass(frozen=True)
class ModelVerdict:
    """One model's verdict on a file, its normalised score, and whether the product gate found another product."""

    model: str
    verdict: Verdict
    score: float
    foreign: bool


@dataclass(frozen=True)
class CompleteFile:
    """A file version read whole and decoded: what is inspected."""

    version: FileVersion
    data: bytes
    digest: str
    image: LoadedImage


@dataclass(frozen=True)
class FileInspection:
    """A file's verdicts, one per model."""

    file: CompleteFile
    verdicts: tuple[ModelVerdict, ...]


class FolderInspector:
    """The product's runs, each loaded once into a Detector, and the records store they write to."""

    def __init__(
        self, runs: Mapping[str, Run], settings: Settings, store: RecordStore, factory: DetectorFactory = Detector
    ) -> None:
        self.runs = dict(runs)
        self.settings = settings
        self.store = store
        self.detectors = {model: factory(run, settings) for model, run in self.runs.items()}

    def _records(self, file: CompleteFile, predictions: Mapping[str, Prediction]) -> list[InspectionRecord]:
        """One record per model, judged at the budget's thresholds, keyed by the file version."""
        version, budget = file.version, self.settings.false_alarm_budget
        context = InspectionContext.of(
            self.settings, operator=WATCH_OPERATOR, session=f"watch:{version.path}:{version.size}:{version.mtime_ns}"
        )
        part = parsed_part_id(version.name, self.settings.part_id_pattern)
        records = []
        for model, run in self.runs.items():
            judged = predictions[model].at_budget(run, budget)
            records.append(
                inspection_record(
                    judged,
                    run,
                    self.detectors[model].choice,
                    settings=self.settings,
                    context=context,
                    image_sha256=file.digest,
                    image_name=version.name,
                    part=part,
                    budget=fitted_budget(run, budget),
                    thresholds=ThresholdBand.of(judged),
                )
            )
        return records

    def inspect(self, files: Sequence[CompleteFile]) -> tuple[list[FileInspection], RecordStatus]:
        """Score the files as one batch per run (a burst goes faster), then record them all in one write, in order."""
        images = [file.image for file in files]
        batches = {model: detector.predict_batch(images) for model, detector in self.detectors.items()}
        inspections, records = [], []
        for index, file in enumerate(files):
            mine = self._records(file, {model: batch[index] for model, batch in batches.items()})
            records += mine
            verdicts = tuple(ModelVerdict(r.model, r.verdict, r.score, bool(r.foreign_part)) for r in mine)
            inspections.append(FileInspection(file, verdicts))
        status = self.store.record(records, {file.digest: file.data for file in files})
        return inspections, status
