"""A false alarm learned by a PatchCore run without retraining: all of the image's patches against a coreset of them.

The run is copied into a temporary registry (the given one is never changed); a normal image the run judges NG (a
held-out normal photo given with ``--image``, else the good test image the run scores highest above its threshold)
is learned once per patch choice (:mod:`services.modeling.patchcore.bank_growth`) as a new version of the run:

    python benchmarks/bench_false_alarm_learning.py models/synthetic/patchcore/tile/<run> [--image normal.png]

Prints, per choice: the image's score before and after (0.5 is the threshold, kept as calibrated), the run's test
image AUROC before and after (without the learned image, when it is a test image), the memory-bank rows added, the
learning time (the test split scored again included) and the median time to score the image (torch, after a
warm-up) before and after.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.data.images import read_rgb
from services.learning.false_alarms import learn_false_alarms
from services.modeling.factory import load_model
from services.modeling.patchcore.bank_growth import PATCH_CHOICES
from services.modeling.scoring import rgb_inputs, score_inputs
from services.records.image_store import ImageStore
from services.registry.artefacts import dataset_root, read_scores
from services.registry.runs import Run, load_run
from services.settings import Settings


def test_auroc(run: Run, leave_out: str | None) -> float:
    """Image AUROC over the run's stored test scores, without the image ``leave_out`` (relative path) if given."""
    scored = [image for image in read_scores(run) if image.image_path != leave_out]
    labels = np.array([image.is_anomalous for image in scored])
    return (
        float(roc_auc_score(labels, [image.score for image in scored]))
        if 0 < labels.sum() < len(labels)
        else float("nan")
    )


def score_ms(run: Run, image: Path, device: str, repeats: int = 5) -> float:
    """Median milliseconds to score ``image`` with the run's torch model, after one warm-up."""
    module = load_model(run.record.model, run.checkpoint, device)
    inputs = rgb_inputs(module, [read_rgb(image)]).to(device)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        score_inputs(module, inputs)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def false_alarm(run: Run, image: Path | None, settings: Settings) -> tuple[Path, str | None]:
    """The image to learn and, when it is one of the run's test images, its path relative to the dataset root."""
    if image is not None:
        return image, None
    alarms = [scored for scored in read_scores(run) if not scored.is_anomalous and scored.score > 0.5]
    if not alarms:
        raise SystemExit(f"run {run.record.run} judges no good test image NG: give a normal image it does with --image")
    worst = max(alarms, key=lambda scored: scored.score)
    return dataset_root(run, settings) / worst.image_path, worst.image_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a PatchCore run folder")
    parser.add_argument("--image", type=Path, default=None, help="a normal image the run judges NG")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    original = load_run(args.run.resolve())
    with tempfile.TemporaryDirectory() as work:
        print(f"run {original.record.run} ({original.record.dataset}/{original.record.category})")
        columns = ("patches", "score before", "score after", "AUROC before", "AUROC after", "rows before", "rows added")
        columns += ("learn s", "score ms before", "score ms after")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for patches in PATCH_CHOICES:
            root = Path(work) / patches
            settings = Settings(data_root=root / "data", registry_dir=root / "models", weights_dir=root / "weights")
            target = settings.registry_dir.joinpath(*original.path.parts[-4:])
            shutil.copytree(original.path, target)
            run = load_run(target)
            image, leave_out = false_alarm(run, args.image, settings)
            sha256 = ImageStore(settings.records_dir).put(image.read_bytes())
            started = time.perf_counter()
            learned = learn_false_alarms(
                run, [sha256], settings, patches=patches, device=args.device, progress=lambda _: None
            )
            seconds = time.perf_counter() - started
            rows = learned.version.memory_bank_rows
            print(
                f"| {patches} | {learned.scores_before[sha256]:.3f} | {learned.scores_after[sha256]:.3f} "
                f"| {test_auroc(run, leave_out):.4f} | {test_auroc(learned.run, leave_out):.4f} "
                f"| {rows['before']} | {rows['added']} | {seconds:.1f} "
                f"| {score_ms(run, image, args.device):.1f} | {score_ms(learned.run, image, args.device):.1f} |"
            )
        print(f"learned image: {image}")


if __name__ == "__main__":
    main()
