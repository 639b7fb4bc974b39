"""anomalib's EfficientAd without downloads: a local (or random) teacher and a local penalty image folder.

anomalib 2.7's ``EfficientAd.on_train_start`` downloads the official teacher and imagenette. This subclass
overrides the two hooks that do so: the teacher comes from ``teacher_path`` (see
:func:`services.modeling.efficientad.teacher.resolve_teacher`) or stays randomly initialised when it is ``None``,
and the penalty images come from ``penalty_dir`` (see
:func:`services.modeling.efficientad.penalty_images.build_penalty_folder`) with anomalib's own transforms.
With ``bf16_training`` the training steps (only they) run under bf16 autocast where the device computes bf16
natively (:func:`bf16_native`), which makes a step faster on such CPUs (``benchmarks/bench_efficientad_offline.py``,
docs/results.md). Teacher statistics, map quantiles, thresholds and inference
stay in fp32. Everything else (losses, teacher standardisation, map quantiles, Engine fit/validate/test,
checkpoints) is anomalib's. Its constraints still hold: the train batch size must be 1, the pre-processor must not
normalise, and thresholds need a validation pass (call ``engine.validate`` when ``max_steps`` ends before an epoch
does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from anomalib.data import Batch
from anomalib.metrics import Evaluator
from anomalib.models import EfficientAd
from anomalib.models.image.efficient_ad.torch_model import EfficientAdModelSize
from anomalib.post_processing import PostProcessor
from anomalib.pre_processing import PreProcessor
from anomalib.visualization import Visualizer

from services.modeling.safe_load import load_weights

logger = logging.getLogger(__name__)

MIN_IMAGE_SIDE = 256
"""anomalib's autoencoder halves the image five times, then applies an 8×8 convolution: smaller inputs fail."""


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA with bf16 support, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class OfflineEfficientAdError(ValueError):
    """A model size, teacher file, penalty folder or image size that EfficientAd cannot use."""


class OfflineEfficientAd(EfficientAd):
    """EfficientAd that never downloads; paths are plain strings so checkpoints reload with ``weights_only``.

    Args:
        teacher_path: a PDN state dict for ``model_size`` with ``teacher_out_channels`` outputs; ``None`` keeps the
            randomly initialised teacher (label such runs as using a random teacher).
        penalty_dir: an ``ImageFolder`` root of natural images for the student's penalty loss; needed to train only.
        bf16_training: run training steps under bf16 autocast where the device computes bf16 natively.
        The remaining arguments are :class:`anomalib.models.EfficientAd`'s.
    """

    def __init__(
        self,
        teacher_path: str | None = None,
        penalty_dir: str | None = None,
        *,
        bf16_training: bool = False,
        teacher_out_channels: int = 384,
        model_size: EfficientAdModelSize | str = EfficientAdModelSize.S,
        lr: float = 0.0001,
        weight_decay: float = 0.00001,
        padding: bool = False,
        pad_maps: bool = True,
        pre_processor: PreProcessor | bool = True,
        post_processor: PostProcessor | bool = True,
        evaluator: Evaluator | bool = True,
        visualizer: Visualizer | bool = True,
    ) -> None:
        if model_size not in tuple(EfficientAdModelSize):
            accepted = ", ".join(size.value for size in EfficientAdModelSize)
            raise OfflineEfficientAdError(f"model_size {model_size!r} is not accepted; use one of {accepted}")
        model_size = EfficientAdModelSize(model_size).value  # a plain str in the checkpoint's hyper-parameters
        super().__init__(
            imagenet_dir=penalty_dir or "",
            teacher_out_channels=teacher_out_channels,
            model_size=model_size,
            lr=lr,
            weight_decay=weight_decay,
            padding=padding,
            pad_maps=pad_maps,
            pre_processor=pre_processor,
            post_processor=post_processor,
            evaluator=evaluator,
            visualizer=visualizer,
        )
        # The base class also recorded EfficientAd's ``imagenet_dir``, which this constructor does not take; drop it
        # so that ``load_from_checkpoint`` can call this constructor with the saved hyper-parameters.
        self.hparams.pop("imagenet_dir", None)
        self.save_hyperparameters(ignore=["pre_processor", "post_processor", "evaluator", "visualizer"])
        self.teacher_path = teacher_path
        self.penalty_dir = penalty_dir
        self.bf16_training = bf16_training

    def training_step(self, batch: Batch, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        """anomalib's step, under bf16 autocast when ``bf16_training`` is on and the device computes bf16."""
        enabled = self.bf16_training and bf16_native(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled):
            return super().training_step(batch, *args, **kwargs)

    def prepare_pretrained_model(self) -> None:
        """Load the teacher from ``teacher_path``, or keep the random one when it is ``None``; never download."""
        if self.teacher_path is None:
            logger.warning("EfficientAd is training with a randomly initialised teacher (no teacher_path given)")
            return
        path = Path(self.teacher_path)
        if not path.is_file():
            raise OfflineEfficientAdError(
                f"teacher file {path} does not exist; run `python -m services.cli distill-teacher` or pass "
                "teacher_path=None for a random teacher"
            )
        state = load_weights(path, map_location=self.device, label=f"teacher file {path}")
        try:
            self.model.teacher.load_state_dict(state)
        except RuntimeError as exc:
            raise OfflineEfficientAdError(
                f"teacher file {path} does not fit a {self.model_size.value} PDN with "
                f"teacher_out_channels={self.model.teacher_out_channels}: {exc}"
            ) from exc
        logger.info("Loaded EfficientAd teacher from %s", path)

    def prepare_imagenette_data(self, image_size: tuple[int, int] | torch.Size) -> None:
        """Read penalty images from ``penalty_dir`` with anomalib's transforms; never download.

        Called by anomalib at the start of training with the training images' size, which is checked here too.
        """
        if min(image_size) < MIN_IMAGE_SIDE:
            raise OfflineEfficientAdError(
                f"EfficientAd needs images of at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} pixels after pre-processing, "
                f"got {tuple(image_size)}; use configure_pre_processor(image_size=({MIN_IMAGE_SIDE}, {MIN_IMAGE_SIDE}))"
            )
        folder = Path(self.penalty_dir) if self.penalty_dir else None
        if folder is None or not folder.is_dir():
            raise OfflineEfficientAdError(
                f"penalty image folder {folder} does not exist; build it with "
                "services.modeling.efficientad.penalty_images.build_penalty_folder and pass its path as penalty_dir"
            )
        self.imagenet_dir = folder
        try:
            super().prepare_imagenette_data(image_size)
        except FileNotFoundError as exc:
            raise OfflineEfficientAdError(f"penalty image folder {folder} holds no class folder of images") from exc
