"""The one way a weights file is read: ``torch.load(weights_only=True)`` under an explicit allow-list of types.

Reading a pickle can run any code it holds. With ``weights_only`` torch reads tensors, plain containers and the
allow-listed types only and refuses every other global, so a checkpoint, teacher, backbone or memory bank that holds
anything else is refused, naming the file (:class:`UnsafeCheckpointError`). The one pickle read in full is a torch
``.pt`` export that the user trusts (``services.registry.imports``, ``--trust``).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from anomalib.utils.serialization import ANOMALIB_SAFE_GLOBALS, NUMPY_SAFE_GLOBALS

UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
SAFE_TYPES_TEXT = "tensors, plain values and anomalib's own enums, as anomalib's Engine.fit and this app write them"


class UnsafeCheckpointError(ValueError):
    """A weights file holding Python objects outside the allow-list: not read, since reading it could run code."""


def checkpoint_allow_list(extra: Sequence[Any] = ()) -> list[Any]:
    """The types an anomalib checkpoint may hold besides tensors: anomalib's shared enums, numpy leaves, ``extra``."""
    return [*ANOMALIB_SAFE_GLOBALS, *NUMPY_SAFE_GLOBALS, *extra]


@contextmanager
def refusing_unsafe_globals(label: str) -> Iterator[None]:
    """Turn torch's refusal of a global outside the allow-list into :class:`UnsafeCheckpointError` naming ``label``."""
    try:
        yield
    except pickle.UnpicklingError as exc:
        found = UNSUPPORTED_GLOBAL.search(str(exc))
        if found is None:
            raise
        raise UnsafeCheckpointError(
            f"{label} holds Python objects outside the allow-list of safe types ({found.group(1)}), so it is not "
            f"read: reading them could run code. Accepted: {SAFE_TYPES_TEXT}; a torch .pt export only with --trust"
        ) from exc


def load_weights(
    path: Path, *, allowed: Sequence[Any] = (), map_location: Any = "cpu", label: str | None = None
) -> Any:
    """``torch.load(path, weights_only=True)`` with ``allowed`` types added for this call only; ``label`` names the
    file in a refusal (default: its path)."""
    with refusing_unsafe_globals(label or str(path)), torch.serialization.safe_globals(list(allowed)):
        return torch.load(path, map_location=map_location, weights_only=True)
