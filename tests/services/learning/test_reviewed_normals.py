"""False alarms kept as extra normal images: copied from the image store, joining the training split of the next
training (EfficientAd, 3 steps), counted in ``metrics.json``; ``--include-reviewed`` says the decisions are not here
yet."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.access import local_user
from services.cli import train as train_command
from services.cli.train import ProductRequest, train_product
from services.data.images import ImageInputError
from services.data.layouts import open_category
from services.data.protocol import build_protocol_for
from services.learning.reviewed_normals import (
    REVIEWED,
    ReviewedNormalsError,
    reviewed_normal_files,
    reviewed_normals,
)
from services.modeling.factory import profile_config
from services.postprocessing.verdict import Verdict
from services.records.image_store import ImageStore
from services.records.review import Decision, decide, undo
from services.records.store import RecordStore
from services.settings import Settings
from tests.reviewed_records import registry_settings
from tests.services.records.sample_records import sample_record


def _image(seed: int, image_format: str = "PNG") -> bytes:
    coarse = np.random.default_rng(seed).integers(60, 200, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(buffer, format=image_format)
    return buffer.getvalue()


def _good_folder(root: Path, count: int = 12) -> Path:
    (root / "good").mkdir(parents=True)
    for seed in range(count):
        (root / "good" / f"n{seed:02d}.png").write_bytes(_image(seed))
    return root


def test_reviewed_images_are_copied_once_each_with_the_suffix_of_their_format(tmp_path: Path) -> None:
    settings = registry_settings(tmp_path)
    store = ImageStore(settings.records_dir)
    png, jpeg = _image(1), _image(2, "JPEG")
    first, second = store.put(png), store.put(jpeg)
    files = reviewed_normal_files(settings, "tile", [first, second, first])
    folder = settings.data_root / REVIEWED / "tile"
    assert files == [folder / f"{first}.png", folder / f"{second}.jpg"]
    assert [path.read_bytes() for path in files] == [png, jpeg]
    assert reviewed_normal_files(settings, "tile", [first]) == files[:1]  # already copied: the same file


def test_a_missing_or_unreadable_reviewed_image_is_refused_naming_it(tmp_path: Path) -> None:
    settings = registry_settings(tmp_path)
    with pytest.raises(ReviewedNormalsError, match=f"reviewed image {'a' * 64} is not in the records' image store"):
        reviewed_normal_files(settings, "tile", ["a" * 64])
    broken = ImageStore(settings.records_dir).put(b"<html>not an image</html>")
    with pytest.raises(ImageInputError, match=f"reviewed image {broken}: is not an image"):
        reviewed_normal_files(settings, "tile", [broken])
    assert not (settings.data_root / REVIEWED / "tile").exists()


def test_reviewed_normals_join_the_training_split_only(tmp_path: Path) -> None:
    settings = registry_settings(tmp_path)
    dataset, data = open_category(_good_folder(tmp_path / "board"), "board", layout="folder", masks=None, seed=0)
    plain = build_protocol_for(data, dataset, settings)
    extra = reviewed_normal_files(
        settings, "board", [ImageStore(settings.records_dir).put(_image(40 + i)) for i in (0, 1)]
    )
    protocol = build_protocol_for(data, dataset, settings, extra_normals=extra)
    assert [sample.path for sample in protocol.train] == [sample.path for sample in plain.train] + extra
    assert all(sample.defect_type == "good" and sample.mask_path is None for sample in protocol.reviewed)
    assert protocol.validation == plain.validation and protocol.test == plain.test
    described = protocol.describe()
    assert described["n_reviewed_normals"] == 2
    assert described["n_train"] == plain.describe()["n_train"] + 2
    assert described["reviewed_normals"] == [path.name for path in extra]
    assert plain.describe()["n_reviewed_normals"] == 0


@pytest.mark.slow
def test_efficientad_trains_on_the_reviewed_normals_and_its_run_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = registry_settings(tmp_path)
    tiny = replace(profile_config("demo", "efficientad", seed=0), max_steps=3)
    monkeypatch.setattr(train_command, "profile_config", lambda profile, model, seed: tiny)
    monkeypatch.setattr(train_command, "ensure_teacher", lambda *_: None)  # a random teacher: nothing distilled
    store = ImageStore(settings.records_dir)
    extra = reviewed_normal_files(settings, "board", [store.put(_image(50)), store.put(_image(51))])
    request = ProductRequest(
        _good_folder(tmp_path / "board"), "board", "folder", None, ("efficientad",), "demo", extra_normals=tuple(extra)
    )
    (run,) = train_product(request, settings, progress=lambda _: None)
    assert run.record.model == "efficientad"
    protocol = run.record.protocol
    assert protocol["n_reviewed_normals"] == 2
    assert protocol["reviewed_normals"] == [path.name for path in extra]
    dataset, data = open_category(request.data, "board", layout="folder", masks=None, seed=0)
    assert protocol["n_train"] == build_protocol_for(data, dataset, settings).describe()["n_train"] + 2


def test_reviewed_normals_are_the_false_alarms_of_the_product_with_a_standing_decision(tmp_path: Path) -> None:
    settings = Settings(registry_dir=tmp_path / "models", data_root=tmp_path / "data")
    records = {
        name: sample_record(product=product, image_sha256=sha * 32, verdict=Verdict.NG)
        for name, product, sha in (("kept", "board", "0a"), ("undone", "board", "0b"), ("other", "tile", "0c"))
    }
    store = RecordStore(settings)
    try:
        store.record(list(records.values()))
        decided = {
            name: decide(store, r.id, Decision.FALSE_ALARM, user=local_user("qa")) for name, r in records.items()
        }
        undo(store, decided["undone"].id, user=local_user("qa"))
    finally:
        store.close()
    assert reviewed_normals(settings, "board") == ["0a" * 32]
    assert reviewed_normals(settings, "moss") == []
