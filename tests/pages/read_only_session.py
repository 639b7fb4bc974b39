"""One session against a read-only registry, run by ``test_faults.py`` in a process where the registry is mounted
read-only: an upload inspected through the app, then every kind of write tried; prints what was seen as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from services.access import local_user
from services.cli.train import ProductRequest, train_product
from services.inference.model_import import ImportRequest, import_run
from services.jobs.commands import TrainRequest, start_training
from services.settings import get_settings
from services.similarity.store import open_store
from tests.pages.conftest import APP, APP_TIMEOUT_S


def _outcome(write: Callable[[], object]) -> str:
    """The error a write raised, as ``Type: message``."""
    try:
        write()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "written"


def inspect(image: Path) -> dict[str, object]:
    """Upload ``image``, pick its first defect region; what the page showed."""
    app = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    app.run()
    app.file_uploader(key="inspect_upload").set_value([("part.png", image.read_bytes(), "image/png")])
    app.run()
    (prediction,) = app.session_state["_predictions"].values()
    app.slider(key="threshold").set_value(round(float(prediction.anomaly_map.max()) * 0.8, 2)).run()
    next(box for box in app.selectbox if str(box.key).startswith("region__patchcore__")).set_value(1).run()
    return {
        "exceptions": [str(exception.value) for exception in app.exception],
        "charts": len(app.get("plotly_chart")),
        "verdicts": [m.value for m in app.markdown if m.value.startswith("**Verdict**")],
        "warnings": [w.value for w in app.warning],
        "captions": [c.value for c in app.caption],
    }


def writes(dataset_root: Path, checkpoint: Path) -> dict[str, str]:
    """Each kind of write into the registry, and the error it raised."""
    settings = get_settings()
    product = ProductRequest(dataset_root, "tile", "mvtec", None, ("patchcore",), "demo")
    return {
        "training job": _outcome(
            lambda: start_training(
                settings, TrainRequest(dataset_root, "tile", "mvtec", ("patchcore",), "demo"), user=local_user()
            )
        ),
        "training": _outcome(lambda: train_product(product, settings)),
        "import": _outcome(lambda: import_run(ImportRequest(checkpoint, "tile"), settings, user=local_user())),
        "index": _outcome(lambda: open_store(settings)),
    }


if __name__ == "__main__":
    image, dataset_root, checkpoint = (Path(arg) for arg in sys.argv[1:4])
    seen = {"page": inspect(image), "writes": writes(dataset_root, checkpoint)}
    print(json.dumps(seen))
