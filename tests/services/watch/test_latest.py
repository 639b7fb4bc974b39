"""The Live page's view of the records: one entry per watched file, newest first, and each model's NG rate."""

from __future__ import annotations

from datetime import timedelta

from services.postprocessing.verdict import Verdict
from services.watch.latest import group_files, ng_rates
from tests.services.records.sample_records import BASE_TIME, sample_record


def _record(name: str, model: str, verdict: Verdict, seconds: float, sha: str = "") -> object:
    return sample_record(
        image_name=name,
        image_sha256=sha or name.ljust(64, "0"),
        model=model,
        verdict=verdict,
        recorded_at=BASE_TIME + timedelta(seconds=seconds),
        operator="watch",
    )


def test_records_group_per_file_and_the_same_bytes_arriving_again_are_another_file() -> None:
    records = [
        _record("c.png", "efficientad", Verdict.NG, 5.1),
        _record("c.png", "patchcore", Verdict.OK, 5.0),
        _record("b.png", "efficientad", Verdict.OK, 3.1, sha="a" * 64),
        _record("b.png", "patchcore", Verdict.OK, 3.0, sha="a" * 64),
        _record("b.png", "efficientad", Verdict.NG, 1.1, sha="a" * 64),  # b.png's bytes written again
        _record("b.png", "patchcore", Verdict.REVIEW, 1.0, sha="a" * 64),
    ]
    files = group_files(records)  # type: ignore[arg-type]
    assert [file.image_name for file in files] == ["c.png", "b.png", "b.png"]
    assert [list(file.records) for file in files] == [["patchcore", "efficientad"]] * 3, "the model table's order"
    assert files[2].records["patchcore"].verdict is Verdict.REVIEW
    assert files[0].recorded_at == BASE_TIME + timedelta(seconds=5.1)


def test_ng_rates_count_each_models_ng_and_review_over_the_files_it_judged() -> None:
    records = [
        _record("d.png", "patchcore", Verdict.NG, 4),
        _record("c.png", "efficientad", Verdict.NG, 3.1),
        _record("c.png", "patchcore", Verdict.NG, 3),
        _record("b.png", "efficientad", Verdict.OK, 2.1),
        _record("b.png", "patchcore", Verdict.REVIEW, 2),
        _record("a.png", "patchcore", Verdict.OK, 1),
    ]
    rates = ng_rates(group_files(records))  # type: ignore[arg-type]
    assert [(rate.model, rate.ng, rate.review, rate.judged) for rate in rates] == [
        ("patchcore", 2, 1, 4),
        ("efficientad", 1, 0, 2),
    ]
    assert rates[0].rate == 0.5 and rates[1].rate == 0.5
    assert ng_rates([]) == []
