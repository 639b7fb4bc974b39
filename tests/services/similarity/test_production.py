"""A defect confirmed in production joins its run's library (embedded Qdrant, real client) and leaves it on undo."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from services.data.images import read_rgb
from services.inference.detector import Detector
from services.records.image_store import ImageStore
from services.records.record import InspectionRecord
from services.registry.artefacts import read_scores
from services.registry.runs import Run
from services.settings import Settings
from services.similarity.cases import CaseLibrary, SimilarCases
from services.similarity.crop_embedder import Embedder
from services.similarity.index import index_run
from services.similarity.production import (
    ProductionCase,
    ProductionCaseError,
    add_confirmed_defect,
    box_iou,
    case_map_path,
    check_defect_type,
    remove_confirmed_defect,
)
from services.similarity.store import PRODUCTION, SearchFilters, SimilarityStore, open_store
from tests.conftest import TinyRegistry
from tests.reviewed_records import copy_run, inspected, registry_settings

pytestmark = pytest.mark.slow


class Library:
    """A copy of the tiny PatchCore run indexed into a store of its own, and a record of its most anomalous defect."""

    def __init__(self, tiny: TinyRegistry, tmp_path: Path) -> None:
        self.settings: Settings = registry_settings(tmp_path)
        self.run: Run = copy_run(tiny.runs["patchcore"], self.settings)
        self.store: SimilarityStore = open_store(self.settings)
        self.embedder = Embedder(self.settings)
        index_run(self.run, self.store, self.embedder)
        self.detector = Detector(self.run, self.settings, backend="torch")
        worst = max((image for image in read_scores(self.run) if image.is_anomalous), key=lambda image: image.score)
        self.record: InspectionRecord = inspected(self.detector, tiny.dataset_root / worst.image_path, self.settings)
        self.cases = CaseLibrary(self.run, self.store, self.embedder, self.settings)

    def filters(self, **conditions: str) -> SearchFilters:
        """The run's region points passing ``conditions``."""
        record = self.run.record
        return SearchFilters(record.dataset, record.category, record.model, record.run, "region", **conditions)

    def add(self, record: InspectionRecord | None = None, defect_type: str = "dent") -> ProductionCase:
        return add_confirmed_defect(
            record or self.record,
            defect_type,
            settings=self.settings,
            store=self.store,
            embedder=self.embedder,
            detector=self.detector,
        )

    def search_like_the_next_part(self) -> SimilarCases:
        """What the Inspect page asks when the same image comes again: its first region's neighbours."""
        rgb = read_rgb(ImageStore(self.settings.records_dir).path(self.record.image_sha256))
        prediction = self.detector.predict(self.record_image())
        return self.cases.similar_to_region(rgb, prediction.anomaly_map, prediction.regions[0], k=3)

    def record_image(self) -> Path:
        return ImageStore(self.settings.records_dir).path(self.record.image_sha256)


@pytest.fixture(scope="module")
def library(tiny_registry: TinyRegistry, tmp_path_factory: pytest.TempPathFactory) -> Library:
    return Library(tiny_registry, tmp_path_factory.mktemp("production"))


def test_a_confirmed_record_is_found_first_then_is_gone_after_undo(library: Library) -> None:
    tested = library.store.count(library.filters(source="test"))
    assert library.record.regions, "the most anomalous test defect has a recorded region"
    added = library.add()
    assert added.regions == len(library.record.regions)
    assert library.store.count(library.filters(source=PRODUCTION)) == added.regions
    first = library.search_like_the_next_part().cases[0]
    assert (first.payload.source, first.payload.record_id, first.payload.defect_type) == (
        PRODUCTION,
        library.record.id,
        "dent",
    )
    assert first.similarity == pytest.approx(1.0, abs=1e-4)
    assert first.payload.image_path == str(library.record_image())
    assert first.thumbnail.image.shape == first.thumbnail.heatmap.shape  # drawn from the kept map and stored image

    removed = remove_confirmed_defect(library.record.id, settings=library.settings, store=library.store)
    assert removed == added.regions + 1  # its regions and its image vector
    assert library.store.count(library.filters(source=PRODUCTION)) == 0
    assert library.store.count(library.filters(source="test")) == tested
    assert all(case.payload.source != PRODUCTION for case in library.search_like_the_next_part().cases)
    assert not case_map_path(library.settings, library.record.id).exists()
    assert remove_confirmed_defect(library.record.id, settings=library.settings, store=library.store) == 0


def test_confirming_twice_writes_the_same_points_and_a_new_type_replaces_the_old(library: Library) -> None:
    first, second = library.add(), library.add(defect_type="  scratch ")
    assert first.point_ids == second.point_ids
    assert second.defect_type == "scratch"
    assert library.store.count(library.filters(source=PRODUCTION)) == first.regions
    assert {case.payload.defect_type for case in library.cases.cases() if case.payload.source == PRODUCTION} == {
        "scratch"
    }
    remove_confirmed_defect(library.record.id, settings=library.settings, store=library.store)


def test_reindexing_the_run_keeps_the_confirmed_defects(library: Library) -> None:
    added = library.add()
    index_run(library.run, library.store, library.embedder)
    assert library.store.count(library.filters(source=PRODUCTION)) == added.regions
    case = next(case for case in library.cases.cases() if case.payload.source == PRODUCTION)
    found = library.cases.similar_to_case(case.payload, k=2)
    assert all(neighbour.payload.image_path != case.payload.image_path for neighbour in found.cases)
    remove_confirmed_defect(library.record.id, settings=library.settings, store=library.store)


def test_a_record_of_a_retrained_run_is_refused_naming_both_checksums(library: Library) -> None:
    stale = replace(library.record, checkpoint_sha256="0" * 64)
    with pytest.raises(ProductionCaseError, match=r"was retrained since .* recorded 000000000000"):
        library.add(stale)


def test_a_record_whose_region_is_not_found_again_is_refused(library: Library) -> None:
    moved = replace(library.record, regions=(replace(library.record.regions[0], bbox=(0, 0, 1, 1)),))
    with pytest.raises(ProductionCaseError, match=r"its region at \(0, 0, 1, 1\) is not found again"):
        library.add(moved)
    assert library.store.count(library.filters(record_id=library.record.id)) == 0


def test_a_record_without_its_image_or_run_is_refused(library: Library) -> None:
    with pytest.raises(ProductionCaseError, match="is not in the image store"):
        library.add(replace(library.record, image_sha256="f" * 64))
    with pytest.raises(ProductionCaseError, match="is not in the registry"):
        library.add(replace(library.record, run_id="synthetic/patchcore/tile/gone"))
    with pytest.raises(ProductionCaseError, match=r"leaves the registry \('\.\.'\)"):
        library.add(replace(library.record, run_id="../../elsewhere/run"))


@pytest.mark.parametrize("text", ["", "   ", "a\nb", "x" * 65])
def test_a_defect_type_must_be_short_printable_text(text: str) -> None:
    with pytest.raises(ProductionCaseError, match="1 to 64 characters"):
        check_defect_type(text)


def test_a_hostile_record_id_never_becomes_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ProductionCaseError, match=r"record id '\.\./x' is not accepted"):
        case_map_path(registry_settings(tmp_path), "../x")


def test_box_overlap_by_hand() -> None:
    assert box_iou((0, 0, 4, 4), (2, 0, 4, 4)) == pytest.approx(8 / 24)
    assert box_iou((0, 0, 2, 2), (5, 5, 2, 2)) == 0.0
    assert np.isclose(box_iou((1, 1, 3, 3), (1, 1, 3, 3)), 1.0)
