"""The evaluation protocol: train, validation and test splits where thresholds never see test labels.

Training uses the normal training images minus a held-out fraction, plus any extra normal images given (images
reviews marked false alarm, ``train --include-reviewed``), which are never held out. The validation split is those
held-out normals plus pseudo-anomalous copies of them (``services.data.pseudo_anomalies``, a generator unrelated to
any test defect). Thresholds and min-max normalisation are fitted on validation only; the test split is only scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from anomalib import TaskType
from anomalib.data.dataclasses import ImageItem
from anomalib.data.datamodules.base.image import AnomalibDataModule
from anomalib.data.datasets.base.image import AnomalibDataset
from anomalib.data.utils import LabelName, TestSplitMode, ValSplitMode
from PIL import Image
from torchvision.transforms.v2.functional import to_dtype, to_image
from torchvision.tv_tensors import Mask

from services.data.category_data import MIN_CALIBRATION_NORMALS, MIN_FIT_NORMALS, CategoryData, Layout
from services.data.datasets import DatasetInfo, Sample, list_samples, read_mask
from services.data.images import read_rgb
from services.data.pseudo_anomalies import numbered_anomaly
from services.settings import Settings

PROTOCOL_NAME = "heldout-normals+pseudo-anomalies"
PSEUDO_DEFECT = "pseudo"


@dataclass(frozen=True)
class EvaluationProtocol:
    """The three splits of one category and how they were made."""

    dataset: DatasetInfo
    category: str
    train: tuple[Sample, ...]
    validation: tuple[Sample, ...]
    test: tuple[Sample, ...]
    holdout_fraction: float
    seed: int
    layout: Layout = "mvtec"
    reviewed: tuple[Sample, ...] = ()
    """Extra normal images from reviews (false alarms), part of :attr:`train`."""

    @property
    def validation_normals(self) -> tuple[Sample, ...]:
        """The held-out normal images of the validation split."""
        return tuple(sample for sample in self.validation if not sample.is_anomalous)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for ``metrics.json``."""
        return {
            "name": PROTOCOL_NAME,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "layout": self.layout,
            "n_train": len(self.train),
            "n_reviewed_normals": len(self.reviewed),
            "reviewed_normals": [sample.path.name for sample in self.reviewed],
            "n_validation_normal": sum(not s.is_anomalous for s in self.validation),
            "n_validation_pseudo_anomalous": sum(s.is_anomalous for s in self.validation),
            "n_test": len(self.test),
            "thresholds_fitted_on": "validation (no test image or label)",
        }


def _validation_dir(settings: Settings, dataset: DatasetInfo, category: str, seed: int) -> Path:
    return settings.data_root / "_validation" / dataset.name / dataset.fingerprint / category / f"seed{seed}"


def _write_pseudo_anomalies(normals: Sequence[Sample], out_dir: Path, seed: int) -> list[Sample]:
    images_dir, masks_dir = out_dir / PSEUDO_DEFECT, out_dir / "masks"
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for index, normal in enumerate(normals):
        image_path = images_dir / f"{index:03d}.png"
        mask_path = masks_dir / f"{index:03d}_mask.png"
        if not (image_path.is_file() and mask_path.is_file()):
            rgb = read_rgb(normal.path)
            anomalous, mask = numbered_anomaly(rgb, seed, index)
            Image.fromarray(anomalous).save(image_path)
            Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
        samples.append(Sample(image_path, "test", PSEUDO_DEFECT, mask_path))
    return samples


def build_protocol_for(
    data: CategoryData,
    dataset: DatasetInfo,
    settings: Settings,
    *,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    extra_normals: Sequence[Path] = (),
) -> EvaluationProtocol:
    """Split a category read from any layout; pseudo-anomalies are cached on disk per dataset fingerprint, category
    and seed. ``extra_normals`` join the training split after the hold-out is drawn."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    category, train = data.category, list(data.train)
    n_holdout = max(MIN_CALIBRATION_NORMALS, round(len(train) * holdout_fraction))
    if len(train) - n_holdout < MIN_FIT_NORMALS:
        raise ValueError(
            f"{category}: {len(train)} training images are too few to hold out {n_holdout} for validation "
            f"and fit on {MIN_FIT_NORMALS}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    held_out = [train[i] for i in sorted(order[:n_holdout])]
    kept = [train[i] for i in sorted(order[n_holdout:])]
    pseudo = _write_pseudo_anomalies(held_out, _validation_dir(settings, dataset, category, seed), seed)
    reviewed = tuple(Sample(path, "train", "good", None) for path in extra_normals)
    return EvaluationProtocol(
        dataset=dataset,
        category=category,
        train=(*kept, *reviewed),
        reviewed=reviewed,
        validation=tuple(held_out + pseudo),
        test=data.test,
        holdout_fraction=holdout_fraction,
        seed=seed,
        layout=data.layout,
    )


def build_protocol(
    dataset: DatasetInfo,
    category: str,
    settings: Settings,
    *,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> EvaluationProtocol:
    """Split a category of an MVTec-layout dataset (masks required), as :func:`build_protocol_for` does."""
    train = tuple(list_samples(dataset.root, category, "train"))
    test = tuple(list_samples(dataset.root, category, "test"))
    data = CategoryData(category, "mvtec", train, test, ())
    return build_protocol_for(data, dataset, settings, holdout_fraction=holdout_fraction, seed=seed)


class SamplesDataset(AnomalibDataset):
    """An anomalib dataset over an explicit list of samples (segmentation task: normals get empty masks)."""

    def __init__(self, samples: Sequence[Sample], split: str) -> None:
        super().__init__()
        frame = pd.DataFrame(
            {
                "image_path": [str(s.path) for s in samples],
                "mask_path": [str(s.mask_path) if s.mask_path else "" for s in samples],
                "label_index": [LabelName.ABNORMAL if s.is_anomalous else LabelName.NORMAL for s in samples],
                "split": split,
            }
        )
        frame.attrs["task"] = TaskType.SEGMENTATION
        self.samples = frame

    def __getitem__(self, index: int) -> ImageItem:
        """anomalib's segmentation item, but the image decoded by :func:`read_rgb` (as the Detector decodes it) and
        the mask by :func:`read_mask` (as evaluation reads it); augmentations apply to both, as in anomalib."""
        row = self.samples.iloc[index]
        image = to_dtype(to_image(read_rgb(row.image_path)), torch.float32, scale=True)
        anomalous = row.label_index == LabelName.ABNORMAL
        truth = read_mask(Path(row.mask_path)) if anomalous else np.zeros(image.shape[-2:], dtype=bool)
        gt_mask = Mask(torch.from_numpy(truth), dtype=torch.uint8)
        if self.augmentations:
            image, gt_mask = self.augmentations(image, gt_mask)
        return ImageItem(
            image=image,
            gt_mask=gt_mask,
            gt_label=torch.tensor(row.label_index),
            image_path=row.image_path,
            mask_path=row.mask_path,
        )


class ProtocolDataModule(AnomalibDataModule):
    """Serves the protocol's splits to anomalib's Engine; it never re-splits anything."""

    def __init__(
        self,
        protocol: EvaluationProtocol,
        train_batch_size: int,
        eval_batch_size: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            train_batch_size=train_batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            val_split_mode=ValSplitMode.FROM_DIR,
            test_split_mode=TestSplitMode.FROM_DIR,
            seed=protocol.seed,
        )
        self.protocol = protocol
        self.category = protocol.category

    def _setup(self, _stage: str | None = None) -> None:
        self.train_data = SamplesDataset(self.protocol.train, "train")
        self.val_data = SamplesDataset(self.protocol.validation, "val")
        self.test_data = SamplesDataset(self.protocol.test, "test")
