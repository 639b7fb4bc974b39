"""Models trained elsewhere with anomalib, read and checked before they become registry runs.

Three formats: a Lightning ``.ckpt`` from anomalib's ``Engine.fit``, read with ``torch.load(weights_only=True)`` under
anomalib's allow-list of safe globals (``services.modeling.safe_load``); an OpenVINO IR from anomalib's export
(``.xml`` graph, ``.bin`` weights beside it); a torch ``.pt`` from ``anomalib export``, which is a pickle that can
run any code when read, so it is read only when the user trusts it, as anomalib's own ``TRUST_REMOTE_CODE`` rule has
it. Every refusal names the file and the rule, so the user can act on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import torch
from anomalib.models.components.base import AnomalibModule

from services.modeling.model_table import MODEL_NAMES, MODEL_TABLE, model_spec
from services.modeling.safe_load import UnsafeCheckpointError, checkpoint_allow_list, load_weights

ImportFormat = Literal["ckpt", "openvino", "torch"]
FORMATS: dict[str, ImportFormat] = {".ckpt": "ckpt", ".xml": "openvino", ".pt": "torch", ".pth": "torch"}
IMPORTED_DATASET = "imported"
"""The registry's dataset level for imported runs that were not evaluated on a dataset."""
RUN_PREFIX = "imported-"
SHA_CHARS = 12
PICKLE_RULE = (
    "a torch .pt export is a Python pickle, and reading one runs whatever code it holds, so a malicious model file "
    "can take over this machine; it is refused unless you trust its source and pass --trust (anomalib's "
    "TRUST_REMOTE_CODE rule)"
)


class ModelImportError(ValueError):
    """A file that cannot be imported, with the rule it breaks."""


@dataclass(frozen=True)
class ImportSource:
    """Where an imported run's model came from, as recorded in its ``metrics.json`` (``source``)."""

    format: ImportFormat
    file: str
    sha256: str
    anomalib_version: str | None = None
    """``None`` where the file does not say which anomalib wrote it."""
    lightning_version: str | None = None
    trusted_pickle: bool = False
    kind: str = "import"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def import_format(path: Path) -> ImportFormat:
    """The format of ``path`` from its suffix; a clear error for any other file."""
    if path.suffix.lower() not in FORMATS:
        raise ModelImportError(
            f"{path.name}: cannot import a {path.suffix or 'suffix-less'} file; accepted: Lightning checkpoint "
            f".ckpt, OpenVINO IR .xml (with its .bin), torch export .pt"
        )
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    return FORMATS[path.suffix.lower()]


def import_run_name(sha256: str) -> str:
    """The run folder name of an imported file, e.g. ``imported-3f2a9c0d41b7``."""
    return f"{RUN_PREFIX}{sha256[:SHA_CHARS]}"


XML_DECLARATIONS_REFUSED = (b"<!DOCTYPE", b"<!ENTITY")
"""Markup that no OpenVINO IR holds and that XML attacks need (entity expansion bombs, external entities)."""
SCAN_CHUNK = 1 << 20


def check_ir_graph(xml: Path) -> None:
    """Refuse an IR graph that declares a document type or entities, before any XML parser reads it."""
    tail = b""
    with xml.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            window = (tail + chunk).upper()
            found = next((marker for marker in XML_DECLARATIONS_REFUSED if marker in window), None)
            if found is not None:
                raise ModelImportError(
                    f"OpenVINO IR {xml.name} is refused: it declares {found.decode()}, which no OpenVINO IR holds "
                    "and which XML entity-expansion and external-entity attacks need; export the model again with "
                    "OpenVINO (ov.save_model or anomalib's export)"
                )
            tail = chunk[-len(max(XML_DECLARATIONS_REFUSED, key=len)) :]


def ir_weights(xml: Path) -> Path:
    """The ``.bin`` weights of an OpenVINO IR, which must lie beside its ``.xml`` with the same stem."""
    weights = xml.with_suffix(".bin")
    if not weights.is_file():
        raise ModelImportError(
            f"OpenVINO IR {xml.name} has no weights file {weights.name} beside it: an IR is the .xml graph and its "
            f".bin weights, same name, same folder; import both"
        )
    return weights


def _model_safe_globals() -> list[Any]:
    return [item for spec in MODEL_TABLE.values() for item in spec.load_stock_class().checkpoint_safe_globals()]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint's contents, read without running code from it (tensors and allow-listed types)."""
    try:
        allowed = checkpoint_allow_list(_model_safe_globals())
        checkpoint = load_weights(path, allowed=allowed, label=f"checkpoint {path.name}")
    except UnsafeCheckpointError as exc:
        raise ModelImportError(str(exc)) from exc
    except Exception as exc:  # torch's unpickler meets garbage with any error (IndexError, KeyError, EOFError…)
        raise _corrupt(path, exc) from exc
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise ModelImportError(
            f"checkpoint {path.name} is not a Lightning checkpoint of an anomalib model: it has no state_dict and "
            f"hyper_parameters (anomalib's Engine.fit writes both)"
        )
    return checkpoint


def _corrupt(path: Path, exc: Exception) -> ModelImportError:
    detail = next(iter(str(exc).splitlines()), "")[:200]
    cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ModelImportError(
        f"checkpoint {path.name} is corrupt or truncated: torch cannot read it ({cause}); copy it again from where it "
        "was trained"
    )


def detect_model(checkpoint: dict[str, Any], path: Path, requested: str | None = None) -> str:
    """The registry model name of a checkpoint, from the weights it holds; ``requested`` must agree when given."""
    keys = checkpoint["state_dict"].keys()
    found = [name for name, spec in MODEL_TABLE.items() if any(k.startswith(spec.state_signature) for k in keys)]
    if len(found) != 1:
        sample = ", ".join(sorted(keys)[:3]) or "none"
        raise ModelImportError(
            f"checkpoint {path.name} is not a model AnomalyLens serves: its weights ({sample}, …) are not those of "
            f"anomalib's {' or '.join(model_spec(name).label for name in MODEL_NAMES)}; import-run accepts those only"
        )
    if requested is not None and requested != found[0]:
        raise ModelImportError(f"checkpoint {path.name} holds a {found[0]} model, not the {requested} asked for")
    return found[0]


def project_checkpoint(checkpoint: dict[str, Any], model: str) -> dict[str, Any]:
    """The checkpoint with hyper-parameters that the project's class of ``model`` reloads offline: enums as their
    values, PatchCore's backbone not downloaded (its weights are in the state dict), EfficientAd's training-only
    ImageNet folder dropped."""
    hparams = {k: v.value if isinstance(v, Enum) else v for k, v in dict(checkpoint["hyper_parameters"]).items()}
    spec = model_spec(model)
    hparams.update(spec.offline_hparams)
    for name in spec.dropped_hparams:
        hparams.pop(name, None)
    return {**checkpoint, "hyper_parameters": hparams}


def read_torch_export(path: Path, trust: bool) -> dict[str, Any]:
    """A ``.pt`` export's model as checkpoint contents; read (unpickled) only when ``trust`` is given."""
    if not trust:
        raise ModelImportError(f"{path.name} refused: {PICKLE_RULE}")
    try:
        exported = torch.load(path, map_location="cpu", weights_only=False)  # the user trusts it (--trust)
    except Exception as exc:  # a broken pickle fails with any error
        raise _corrupt(path, exc) from exc
    module = exported.get("model") if isinstance(exported, dict) else None
    if not isinstance(module, AnomalibModule):
        raise ModelImportError(
            f"{path.name} is not an anomalib torch export: it holds no 'model' entry with an anomalib model "
            f"(anomalib's export writes {{'model': <module>}})"
        )
    from lightning import __version__ as lightning_version

    checkpoint: dict[str, Any] = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": lightning_version,
    }
    module.on_save_checkpoint(checkpoint)  # anomalib's component flags and pre-/post-processor configuration
    return checkpoint
