"""The progress protocol: lines printed only inside a job, parsed back, anything else ignored."""

from __future__ import annotations

import pytest

from services.jobs import progress


def test_emit_prints_nothing_outside_a_job(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.emit(0.5, "fitting")
    assert capsys.readouterr().out == ""


def test_an_emitted_line_parses_back_clamped(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(progress.PROGRESS_ENV, "1")
    progress.emit(1.7, "scoring", result="2 runs")
    line = capsys.readouterr().out.strip()
    assert line == 'PROGRESS {"fraction": 1.0, "stage": "scoring", "result": "2 runs"}'
    assert progress.parse(line) == progress.ProgressEvent(fraction=1.0, stage="scoring", result="2 runs")


@pytest.mark.parametrize(
    "line", ["fitting on 40 images", "PROGRESS not json", 'PROGRESS {"stage": "no fraction"}', "PROGRESS [1, 2]"]
)
def test_other_lines_are_not_progress(line: str) -> None:
    assert progress.parse(line) is None
