"""The jobs the app starts, as ``python -m services.cli`` command lines: training a product, building the demo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.access import ActingUser, Action, require
from services.data.categories import check_category_name
from services.jobs.runner import cli_argv, list_jobs, start_exclusive, start_job
from services.jobs.status import JobStatus
from services.modeling.model_table import MODEL_NAMES, PROFILES
from services.settings import Settings

LAYOUTS = ("folder", "mvtec")
TRAIN_KIND = "train"
DEMO_KIND = "demo"
INDEX_WRITER_KINDS = (DEMO_KIND, TRAIN_KIND)
"""Jobs that may write the similar-defect index at their end (a training job does when its data has known defects)."""


@dataclass(frozen=True)
class TrainRequest:
    """A product to train: its images, its name, their layout, the models and the profile."""

    data: Path
    category: str
    layout: str
    models: tuple[str, ...]
    profile: str

    def problems(self) -> list[str]:
        """Every reason the request cannot start, each naming the field and the rule; empty when it can."""
        found = [] if self.data.is_dir() else [f"dataset folder {self.data} does not exist or is not a folder"]
        return found + self.choice_problems()

    def choice_problems(self) -> list[str]:
        """The problems of the name, layout, models and profile (all but the dataset folder, e.g. before an upload)."""
        found = []
        try:
            check_category_name(self.category)
        except ValueError as exc:
            found.append(str(exc))
        if self.layout not in LAYOUTS:
            found.append(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if not self.models:
            found.append("choose at least one model")
        found += [f"unknown model {m!r}; known: {', '.join(MODEL_NAMES)}" for m in self.models if m not in MODEL_NAMES]
        if self.profile not in PROFILES:
            found.append(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        return found

    def argv(self) -> list[str]:
        """``python -m services.cli train --data … --category … --layout … --models … --profile …``."""
        return cli_argv(
            "train",
            "--data",
            str(self.data),
            "--category",
            self.category,
            "--layout",
            self.layout,
            "--models",
            *self.models,
            "--profile",
            self.profile,
        )


def start_training(settings: Settings, request: TrainRequest, *, user: ActingUser) -> JobStatus:
    """Start training the product in the background; raises ``AccessDeniedError`` for a user who may not train, else
    ValueError listing every problem of the request."""
    require(user, Action.TRAIN)
    problems = request.problems()
    if problems:
        raise ValueError("; ".join(problems))
    details = {"category": request.category, "models": list(request.models), "profile": request.profile}
    title = f"Train {request.category} ({', '.join(request.models)}, {request.profile} profile)"
    return start_job(settings, TRAIN_KIND, title, request.argv(), {**details, "data": str(request.data)})


def start_demo_build(settings: Settings, *, user: ActingUser) -> JobStatus:
    """Build the demo registry in the background, or return the demo build already running (one at a time); it trains,
    so it needs a user who may train."""
    require(user, Action.TRAIN)
    return start_exclusive(settings, DEMO_KIND, "Build the demo registry", cli_argv("demo"))


def demo_build(settings: Settings) -> JobStatus | None:
    """The newest demo build job, if any was started."""
    return next(iter(list_jobs(settings, DEMO_KIND)), None)


def index_writers(settings: Settings) -> list[JobStatus]:
    """The active jobs that may write the similar-defect index, newest first: the app leaves the embedded store to
    them (it admits one process at a time)."""
    return [job for job in list_jobs(settings) if job.active and job.kind in INDEX_WRITER_KINDS]
