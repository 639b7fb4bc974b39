"""Dataset problems and the error that carries them: each problem names the file and the rule it breaks."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def printable(text: str) -> str:
    """``text`` with each control character (a line break in a file name, an escape sequence) written as its escape,
    so a problem stays one line of plain text in a terminal or on a page."""
    return "".join(repr(char)[1:-1] if unicodedata.category(char) == "Cc" else char for char in text)


@dataclass(frozen=True)
class DatasetProblem:
    """One thing wrong with a dataset: the file or folder concerned and a sentence naming it, the rule and the fix."""

    path: Path
    message: str

    def __str__(self) -> str:
        return printable(self.message)


class DatasetError(ValueError):
    """A dataset folder does not have the expected layout or content; ``problems`` lists every one found."""

    def __init__(self, message: str, problems: Sequence[DatasetProblem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[DatasetProblem]) -> DatasetError:
        """One error for every problem found, one per line when there are several."""
        if len(problems) == 1:
            return cls(str(problems[0]), problems)
        return cls(f"{len(problems)} problems:\n" + "\n".join(f"- {problem}" for problem in problems), problems)
