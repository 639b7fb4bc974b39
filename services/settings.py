"""The one settings object: environment variables prefixed ``ANOMALYLENS_``.

Every path, device choice and service address the project uses comes from here;
the README's configuration table documents each variable.
"""

from __future__ import annotations

import os
import re
import socket
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

PREFIX = "ANOMALYLENS_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEVICES = ("auto", "cpu", "cuda")
SEED_MAX = 2**32 - 1
"""numpy's, torch's and Lightning's seeds all accept 0 … 2³² − 1."""
PIXELS_MAX = Image.MAX_IMAGE_PIXELS
"""Pillow's decompression-bomb limit: larger images are refused by Pillow whatever the setting says."""
UPLOAD_MB_MAX = 1024 * 1024
"""1 TiB: far above any dataset, so a larger value is a typo."""
UPLOAD_FILES_MAX = 10_000_000
MINUTES_MAX = 24 * 60
"""A day: longer idle times or lock-outs are a typo."""
LOCKOUT_ATTEMPTS_MAX = 100
DATABASE_SCHEMES = ("sqlite", "postgresql")


class SettingsError(ValueError):
    """A setting has a value that is not accepted."""


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def _path(name: str, value: str) -> Path:
    if not value.strip():
        raise SettingsError(f"{PREFIX}{name} is empty: give a folder path (a relative one is read from {PROJECT_ROOT})")
    if _has_control_character(value):
        raise SettingsError(f"{PREFIX}{name}={value!r} holds a control character: give a plain folder path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _text(name: str, value: str) -> str:
    if _has_control_character(value):
        raise SettingsError(f"{PREFIX}{name} holds a control character (e.g. a line break): give it on one line")
    return value.strip()


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    """Refuse ``value`` outside ``low … high`` (NaN included), naming the variable, the value and the range."""
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name}={value!r} is out of range: give {unit} from {low:,} to {high:,}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(char.isspace() for char in url):
        raise SettingsError(
            f"{PREFIX}QDRANT_URL={url!r} is not a Qdrant server address: give an http:// or https:// URL with a host "
            "(e.g. http://127.0.0.1:6333), or leave it empty for the embedded store"
        )


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}={value!r} is not an integer") from exc


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}={value!r} is not a number") from exc


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{PREFIX}{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off")


def _check_part_id_pattern(pattern: str) -> None:
    """Raise ``SettingsError`` unless ``pattern`` is empty or a regex with a named group ``part``."""
    if not pattern:
        return
    try:
        groups = re.compile(pattern).groupindex
    except re.error as exc:
        raise SettingsError(f"{PREFIX}PART_ID_PATTERN={pattern!r} is not a regular expression: {exc}") from exc
    if "part" not in groups:
        raise SettingsError(
            f"{PREFIX}PART_ID_PATTERN={pattern!r} has no named group 'part'; e.g. (?P<part>[A-Z]\\d+)_(?P<lot>L\\d+)"
        )


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :meth:`from_env` or :func:`get_settings`."""

    data_root: Path = field(default_factory=lambda: PROJECT_ROOT / "data")
    registry_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "models")
    device: str = "auto"
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    seed: int = 0
    max_image_pixels: int = 50_000_000
    allow_downloads: bool = False
    weights_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "models" / "weights")
    max_upload_files: int = 20_000
    max_upload_mb: int = 4096
    false_alarm_budget: float = 0.01
    """Share of good parts that may be judged NG: thresholds are fitted to it (and regions on good parts to it)."""
    database_url: str = ""
    """Inspection records database (SQLAlchemy URL); empty = the SQLite file under the registry."""
    station: str = field(default_factory=socket.gethostname)
    """The inspection station named in every record (default: this host's name)."""
    part_id_pattern: str = ""
    """A regex with a named group ``part`` (and optionally ``lot``) searched in an upload's file name; empty = none."""
    sign_in: bool = False
    """Whether the dashboard asks for a name and password (off: one local user who may do everything)."""
    idle_timeout_min: int = 30
    """Minutes without a page action after which a signed-in user is signed out."""
    lockout_attempts: int = 5
    """Wrong passwords in a row that lock a user out."""
    lockout_min: int = 15
    """Minutes a locked-out user waits before signing in again."""

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise SettingsError(f"{PREFIX}DEVICE={self.device!r} is not one of {', '.join(DEVICES)}")
        _check_range("SEED", self.seed, 0, SEED_MAX, "an integer")
        _check_range("MAX_IMAGE_PIXELS", self.max_image_pixels, 1, PIXELS_MAX, "a pixel count (width × height)")
        _check_range("MAX_UPLOAD_FILES", self.max_upload_files, 1, UPLOAD_FILES_MAX, "a number of files")
        _check_range("MAX_UPLOAD_MB", self.max_upload_mb, 1, UPLOAD_MB_MAX, "megabytes")
        _check_range("IDLE_TIMEOUT_MIN", self.idle_timeout_min, 1, MINUTES_MAX, "minutes")
        _check_range("LOCKOUT_ATTEMPTS", self.lockout_attempts, 1, LOCKOUT_ATTEMPTS_MAX, "a number of wrong passwords")
        _check_range("LOCKOUT_MIN", self.lockout_min, 1, MINUTES_MAX, "minutes")
        if not 0 < self.false_alarm_budget < 0.5:  # NaN fails too
            raise SettingsError(
                f"{PREFIX}FALSE_ALARM_BUDGET={self.false_alarm_budget!r} is not accepted: give the share of good parts "
                "that may be judged NG, between 0 and 0.5 (e.g. 0.01 for 1 %)"
            )
        if self.qdrant_url:
            _check_url(self.qdrant_url)
        scheme = self.database_url.partition(":")[0].partition("+")[0]
        if self.database_url and scheme not in DATABASE_SCHEMES:
            raise SettingsError(
                f"{PREFIX}DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got scheme {scheme!r}"
            )
        _check_part_id_pattern(self.part_id_pattern)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every ``ANOMALYLENS_*`` variable; unset ones keep their defaults."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        readers = {
            "DATA_ROOT": ("data_root", lambda v: _path("DATA_ROOT", v)),
            "REGISTRY": ("registry_dir", lambda v: _path("REGISTRY", v)),
            "DEVICE": ("device", lambda v: v.strip().lower()),
            "QDRANT_URL": ("qdrant_url", lambda v: _text("QDRANT_URL", v)),
            "QDRANT_API_KEY": ("qdrant_api_key", lambda v: _text("QDRANT_API_KEY", v)),
            "SEED": ("seed", lambda v: _int("SEED", v)),
            "MAX_IMAGE_PIXELS": ("max_image_pixels", lambda v: _int("MAX_IMAGE_PIXELS", v)),
            "ALLOW_DOWNLOADS": ("allow_downloads", lambda v: _bool("ALLOW_DOWNLOADS", v)),
            "WEIGHTS_DIR": ("weights_dir", lambda v: _path("WEIGHTS_DIR", v)),
            "MAX_UPLOAD_FILES": ("max_upload_files", lambda v: _int("MAX_UPLOAD_FILES", v)),
            "MAX_UPLOAD_MB": ("max_upload_mb", lambda v: _int("MAX_UPLOAD_MB", v)),
            "FALSE_ALARM_BUDGET": ("false_alarm_budget", lambda v: _float("FALSE_ALARM_BUDGET", v)),
            "DATABASE_URL": ("database_url", lambda v: _text("DATABASE_URL", v)),
            "STATION": ("station", lambda v: _text("STATION", v)),
            "PART_ID_PATTERN": ("part_id_pattern", lambda v: _text("PART_ID_PATTERN", v)),
            "SIGN_IN": ("sign_in", lambda v: _bool("SIGN_IN", v)),
            "IDLE_TIMEOUT_MIN": ("idle_timeout_min", lambda v: _int("IDLE_TIMEOUT_MIN", v)),
            "LOCKOUT_ATTEMPTS": ("lockout_attempts", lambda v: _int("LOCKOUT_ATTEMPTS", v)),
            "LOCKOUT_MIN": ("lockout_min", lambda v: _int("LOCKOUT_MIN", v)),
        }
        for suffix, (attr, read) in readers.items():
            raw = env.get(PREFIX + suffix)
            if raw is not None:
                values[attr] = read(raw)
        if "weights_dir" not in values and "registry_dir" in values:
            values["weights_dir"] = Path(values["registry_dir"]) / "weights"  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The ``ANOMALYLENS_*`` variables that rebuild these settings in a child process (background jobs)."""
        return {
            PREFIX + "DATA_ROOT": str(self.data_root),
            PREFIX + "REGISTRY": str(self.registry_dir),
            PREFIX + "WEIGHTS_DIR": str(self.weights_dir),
            PREFIX + "DEVICE": self.device,
            PREFIX + "QDRANT_URL": self.qdrant_url,
            PREFIX + "QDRANT_API_KEY": self.qdrant_api_key,
            PREFIX + "SEED": str(self.seed),
            PREFIX + "MAX_IMAGE_PIXELS": str(self.max_image_pixels),
            PREFIX + "ALLOW_DOWNLOADS": "1" if self.allow_downloads else "0",
            PREFIX + "MAX_UPLOAD_FILES": str(self.max_upload_files),
            PREFIX + "MAX_UPLOAD_MB": str(self.max_upload_mb),
            PREFIX + "FALSE_ALARM_BUDGET": repr(self.false_alarm_budget),
            PREFIX + "DATABASE_URL": self.database_url,
            PREFIX + "STATION": self.station,
            PREFIX + "PART_ID_PATTERN": self.part_id_pattern,
            PREFIX + "SIGN_IN": "1" if self.sign_in else "0",
            PREFIX + "IDLE_TIMEOUT_MIN": str(self.idle_timeout_min),
            PREFIX + "LOCKOUT_ATTEMPTS": str(self.lockout_attempts),
            PREFIX + "LOCKOUT_MIN": str(self.lockout_min),
        }

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded Qdrant store (used when no URL is set)."""
        return self.registry_dir / "qdrant"

    @property
    def records_dir(self) -> Path:
        """Folder of the inspection records: the default SQLite file, the kept images and the spool."""
        return self.registry_dir / "records"

    def resolved_device(self) -> str:
        """``cuda`` when asked for or when ``auto`` finds a GPU, else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (CLI flags, tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
