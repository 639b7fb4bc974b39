"""The Dockerfile cannot be built here (no Docker engine), so its promises are checked by parsing it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    parsed = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def _values(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for key, rest in instructions if key == keyword]


def test_slim_python_311_base(instructions: list[tuple[str, str]]) -> None:
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", _values(instructions, "FROM")[0])


def test_installs_requirements(instructions: list[tuple[str, str]]) -> None:
    assert any("requirements.txt" in rest for rest in _values(instructions, "COPY"))
    assert any("pip install -r requirements.txt" in rest for rest in _values(instructions, "RUN"))


def test_runs_as_non_root(instructions: list[tuple[str, str]]) -> None:
    users = _values(instructions, "USER")
    assert users, "no USER instruction"
    assert users[-1] not in ("root", "0")
    assert any("useradd" in rest and users[-1] in rest for rest in _values(instructions, "RUN"))


def test_exposes_streamlit_port_with_healthcheck(instructions: list[tuple[str, str]]) -> None:
    assert "8501" in _values(instructions, "EXPOSE")
    health = _values(instructions, "HEALTHCHECK")
    assert health and "/_stcore/health" in health[0] and "8501" in health[0]


def test_starts_the_app(instructions: list[tuple[str, str]]) -> None:
    command = _values(instructions, "CMD")[-1]
    assert '"services.cli", "serve"' in command and '"8501"' in command and '"0.0.0.0"' in command


def test_never_installs_gui_opencv() -> None:
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    entries = [line.strip() for line in requirements if line.strip() and not line.startswith("#")]
    names = {re.split(r"[=<>\[ ]", entry)[0].lower() for entry in entries}
    assert "opencv-python-headless" in names
    assert "opencv-python" not in names
