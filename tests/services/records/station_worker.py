"""One station of the two-station test: ``python -m tests.services.records.station_worker GO RUN IMAGE…``.

It loads the run into a Detector, prints ``ready``, waits until the file ``GO`` exists (so both stations start
together), then inspects and records each image in turn as the Inspect page does by default: the prediction judged at
the false-alarm budget's thresholds, its record made by ``inspection_record`` and written (with the image's bytes) by
``RecordStore.record``, one write per image. The settings come from the ``ANOMALYLENS_*`` environment. It prints one
line per image (``recorded`` or why not) and exits 1 where any record was not written to the database.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from pathlib import Path

from services.inference.detector import Detector
from services.records.capture import InspectionContext, ThresholdBand, inspection_record
from services.records.part_id import part_id_for
from services.records.store import RecordStore
from services.registry.run_calibration import fitted_budget
from services.registry.runs import load_run
from services.settings import get_settings

WAIT_FOR_GO_S = 300


def main(go: Path, run_path: Path, images: list[Path]) -> int:
    """Inspect and record every image once ``go`` exists; 0 when each record reached the database."""
    settings = get_settings()
    run = load_run(run_path)
    detector = Detector(run, settings)
    store = RecordStore(settings)
    context = InspectionContext.of(settings, session=uuid.uuid4().hex)
    print("ready", flush=True)
    deadline = time.monotonic() + WAIT_FOR_GO_S
    while not go.exists():
        if time.monotonic() > deadline:
            print(f"{go} did not appear within {WAIT_FOR_GO_S} s", flush=True)
            return 1
        time.sleep(0.01)
    failed = 0
    for image in images:
        data = image.read_bytes()
        judged = detector.predict(data, name=image.name).at_budget(run, settings.false_alarm_budget)
        record = inspection_record(
            judged,
            run,
            detector.choice,
            settings=settings,
            context=context,
            image_sha256=hashlib.sha256(data).hexdigest(),
            image_name=image.name,
            part=part_id_for(image.name, "", settings.part_id_pattern),
            budget=fitted_budget(run, settings.false_alarm_budget),
            thresholds=ThresholdBand.of(judged),
        )
        status = store.record([record], {record.image_sha256: data})
        failed += status.written != 1
        print(f"{image.name} {'recorded' if status.written == 1 else f'not recorded: {status}'}", flush=True)
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]]))
