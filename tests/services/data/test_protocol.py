"""build_protocol_for: the held-out-normals + pseudo-anomalies split for a category read from any layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.data.category_data import CategoryData
from services.data.datasets import Sample, list_samples, open_dataset
from services.data.layouts import open_category
from services.data.protocol import PSEUDO_DEFECT, build_protocol, build_protocol_for
from services.settings import Settings
from tests.services.data.dataset_trees import folder_tree


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "weights")


def test_a_folder_category_is_split_and_keeps_its_test_split(tmp_path: Path) -> None:
    """10 normals: 2 held out for testing, 8 train; of those, max(2, round(0.2 * 8)) = 2 validate and 6 fit."""
    root = folder_tree(tmp_path / "pcb_connector", n_normals=10, defects={"dent": 1}, size=(40, 24))
    info, data = open_category(root, "pcb_connector", layout="folder", seed=0)
    protocol = build_protocol_for(data, info, _settings(tmp_path), seed=0)
    assert (len(protocol.train), len(protocol.validation_normals), len(protocol.validation)) == (6, 2, 4)
    assert protocol.test == data.test
    assert {s.path for s in (*protocol.train, *protocol.validation_normals)} == {s.path for s in data.train}
    pseudo_dir = (
        tmp_path / "data" / "_validation" / "own" / info.fingerprint / "pcb_connector" / "seed0" / PSEUDO_DEFECT
    )
    pseudo = [sample for sample in protocol.validation if sample.is_anomalous]
    assert [sample.path for sample in pseudo] == [pseudo_dir / "000.png", pseudo_dir / "001.png"]
    assert all(sample.mask_path is not None and sample.mask_path.is_file() for sample in pseudo)


def test_too_few_training_normals_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    train = tuple(Sample(tmp_path / f"{index}.png", "train", "good", None) for index in range(3))
    data = CategoryData("part", "folder", train, (), ())
    info, _ = open_category(folder_tree(tmp_path / "part", n_normals=5), "part", layout="folder")
    with pytest.raises(
        ValueError, match="part: 3 training images are too few to hold out 2 for validation and fit on 2"
    ):
        build_protocol_for(data, info, _settings(tmp_path))
    assert not (tmp_path / "data").exists()


def test_build_protocol_still_splits_an_mvtec_layout_category(tiny_synthetic_root: Path, tmp_path: Path) -> None:
    """Tiny tile: 8 train normals -> 2 validate (with 2 pseudo-anomalies), 6 fit; test = 3 good + 5 types x 2."""
    dataset = open_dataset(tiny_synthetic_root, ("tile",))
    protocol = build_protocol(dataset, "tile", _settings(tmp_path), seed=0)
    assert (len(protocol.train), len(protocol.validation), len(protocol.test)) == (6, 4, 13)
    assert protocol.test == tuple(list_samples(tiny_synthetic_root, "tile", "test"))
    assert protocol == build_protocol_for(open_category(tiny_synthetic_root, "tile")[1], dataset, _settings(tmp_path))
