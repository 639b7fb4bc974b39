"""Settings come from ANOMALYLENS_* variables with documented defaults and clear errors."""

import re
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT, Settings, SettingsError

ABSURD = [
    ("DATA_ROOT", "", "ANOMALYLENS_DATA_ROOT is empty: give a folder path"),
    ("DATA_ROOT", "data\x00/../etc", "ANOMALYLENS_DATA_ROOT='data\\x00/../etc' holds a control character"),
    ("REGISTRY", "   ", "ANOMALYLENS_REGISTRY is empty: give a folder path"),
    ("REGISTRY", "models\n", "ANOMALYLENS_REGISTRY='models\\n' holds a control character"),
    ("WEIGHTS_DIR", "", "ANOMALYLENS_WEIGHTS_DIR is empty: give a folder path"),
    ("DEVICE", "cuda:-1", "ANOMALYLENS_DEVICE='cuda:-1' is not one of auto, cpu, cuda"),
    ("DEVICE", "nan", "ANOMALYLENS_DEVICE='nan' is not one of auto, cpu, cuda"),
    ("QDRANT_URL", "javascript:alert(1)", "QDRANT_URL='javascript:alert(1)' is not a Qdrant server address"),
    ("QDRANT_URL", "http://", "give an http:// or https:// URL with a host"),
    ("QDRANT_URL", "http://host\r\nX-Evil: 1", "ANOMALYLENS_QDRANT_URL holds a control character"),
    ("QDRANT_API_KEY", "key\r\nX-Evil: 1", "ANOMALYLENS_QDRANT_API_KEY holds a control character"),
    ("SEED", "-1", "ANOMALYLENS_SEED=-1 is out of range: give an integer from 0 to 4,294,967,295"),
    ("SEED", str(10**30), "ANOMALYLENS_SEED=1000000000000000000000000000000 is out of range"),
    ("SEED", "nan", "ANOMALYLENS_SEED='nan' is not an integer"),
    ("SEED", "inf", "ANOMALYLENS_SEED='inf' is not an integer"),
    ("MAX_IMAGE_PIXELS", "-5", "ANOMALYLENS_MAX_IMAGE_PIXELS=-5 is out of range: give a pixel count"),
    ("MAX_IMAGE_PIXELS", "0", "ANOMALYLENS_MAX_IMAGE_PIXELS=0 is out of range"),
    ("MAX_IMAGE_PIXELS", str(10**12), "from 1 to 89,478,485"),
    ("MAX_IMAGE_PIXELS", "1e9", "ANOMALYLENS_MAX_IMAGE_PIXELS='1e9' is not an integer"),
    ("ALLOW_DOWNLOADS", "2", "ANOMALYLENS_ALLOW_DOWNLOADS='2' is not a boolean"),
    ("ALLOW_DOWNLOADS", "nan", "ANOMALYLENS_ALLOW_DOWNLOADS='nan' is not a boolean"),
    ("MAX_UPLOAD_FILES", "-1", "ANOMALYLENS_MAX_UPLOAD_FILES=-1 is out of range: give a number of files"),
    ("MAX_UPLOAD_FILES", str(10**15), "from 1 to 10,000,000"),
    ("MAX_UPLOAD_MB", "0", "ANOMALYLENS_MAX_UPLOAD_MB=0 is out of range: give megabytes from 1 to 1,048,576"),
    ("MAX_UPLOAD_MB", str(2**63), "ANOMALYLENS_MAX_UPLOAD_MB=9223372036854775808 is out of range"),
    ("MAX_UPLOAD_MB", "inf", "ANOMALYLENS_MAX_UPLOAD_MB='inf' is not an integer"),
    ("FALSE_ALARM_BUDGET", "nan", "ANOMALYLENS_FALSE_ALARM_BUDGET=nan is not accepted: give the share of good parts"),
    ("FALSE_ALARM_BUDGET", "inf", "ANOMALYLENS_FALSE_ALARM_BUDGET=inf is not accepted"),
    ("FALSE_ALARM_BUDGET", "-0.01", "ANOMALYLENS_FALSE_ALARM_BUDGET=-0.01 is not accepted"),
    ("FALSE_ALARM_BUDGET", "1e308", "between 0 and 0.5"),
    ("FALSE_ALARM_BUDGET", "1%", "ANOMALYLENS_FALSE_ALARM_BUDGET='1%' is not a number"),
    ("DATABASE_URL", "mysql://db/records", "ANOMALYLENS_DATABASE_URL must be a sqlite:/// or postgresql+psycopg://"),
    ("DATABASE_URL", "sqlite:///x.db\n", "ANOMALYLENS_DATABASE_URL holds a control character"),
    ("STATION", "line-3\x1b[31m", "ANOMALYLENS_STATION holds a control character"),
    ("PART_ID_PATTERN", "(?P<part>[", "ANOMALYLENS_PART_ID_PATTERN='(?P<part>[' is not a regular expression"),
    ("SIGN_IN", "admin", "ANOMALYLENS_SIGN_IN='admin' is not a boolean; use 1/0"),
    ("SIGN_IN", "nan", "ANOMALYLENS_SIGN_IN='nan' is not a boolean"),
    ("IDLE_TIMEOUT_MIN", "0", "ANOMALYLENS_IDLE_TIMEOUT_MIN=0 is out of range: give minutes from 1 to 1,440"),
    ("IDLE_TIMEOUT_MIN", "-30", "ANOMALYLENS_IDLE_TIMEOUT_MIN=-30 is out of range"),
    ("IDLE_TIMEOUT_MIN", "inf", "ANOMALYLENS_IDLE_TIMEOUT_MIN='inf' is not an integer"),
    ("LOCKOUT_ATTEMPTS", "0", "ANOMALYLENS_LOCKOUT_ATTEMPTS=0 is out of range: give a number of wrong passwords"),
    ("LOCKOUT_ATTEMPTS", str(10**9), "ANOMALYLENS_LOCKOUT_ATTEMPTS=1000000000 is out of range"),
    ("LOCKOUT_MIN", "-1", "ANOMALYLENS_LOCKOUT_MIN=-1 is out of range: give minutes from 1 to 1,440"),
    ("LOCKOUT_MIN", "nan", "ANOMALYLENS_LOCKOUT_MIN='nan' is not an integer"),
]
"""Absurd values of every ANOMALYLENS_ variable: (suffix, value, the start of the message naming it and the rule)."""


def test_defaults_live_in_the_project() -> None:
    settings = Settings.from_env({})
    assert settings.data_root == PROJECT_ROOT / "data"
    assert settings.registry_dir == PROJECT_ROOT / "models"
    assert settings.qdrant_path == PROJECT_ROOT / "models" / "qdrant"
    assert settings.device == "auto"
    assert settings.qdrant_url == ""
    assert settings.allow_downloads is False
    assert (settings.sign_in, settings.idle_timeout_min, settings.lockout_attempts, settings.lockout_min) == (
        False,
        30,
        5,
        15,
    )


def test_reads_every_variable(tmp_path: Path) -> None:
    env = {
        "ANOMALYLENS_DATA_ROOT": str(tmp_path / "d"),
        "ANOMALYLENS_REGISTRY": str(tmp_path / "r"),
        "ANOMALYLENS_DEVICE": "CPU",
        "ANOMALYLENS_QDRANT_URL": " http://127.0.0.1:6333 ",
        "ANOMALYLENS_QDRANT_API_KEY": "secret",
        "ANOMALYLENS_SEED": "7",
        "ANOMALYLENS_MAX_IMAGE_PIXELS": "1000",
        "ANOMALYLENS_ALLOW_DOWNLOADS": "yes",
    }
    settings = Settings.from_env(env)
    assert settings.data_root == tmp_path / "d"
    assert settings.registry_dir == tmp_path / "r"
    assert settings.weights_dir == tmp_path / "r" / "weights"
    assert settings.device == "cpu"
    assert settings.qdrant_url == "http://127.0.0.1:6333"
    assert settings.qdrant_api_key == "secret"
    assert (settings.seed, settings.max_image_pixels, settings.allow_downloads) == (7, 1000, True)


def test_relative_paths_resolve_against_project_root() -> None:
    assert Settings.from_env({"ANOMALYLENS_DATA_ROOT": "elsewhere"}).data_root == PROJECT_ROOT / "elsewhere"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ANOMALYLENS_DEVICE", "tpu", "not one of auto, cpu, cuda"),
        ("ANOMALYLENS_SEED", "abc", "is not an integer"),
        ("ANOMALYLENS_ALLOW_DOWNLOADS", "maybe", "is not a boolean"),
        ("ANOMALYLENS_MAX_IMAGE_PIXELS", "0", "is out of range"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_auto_device_resolves_to_an_available_one() -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert Settings.from_env({}).resolved_device() == expected
    assert Settings.from_env({"ANOMALYLENS_DEVICE": "cpu"}).resolved_device() == "cpu"


def test_to_env_rebuilds_the_same_settings_in_a_child_process(tmp_path: Path) -> None:
    settings = Settings(
        data_root=tmp_path / "d",
        registry_dir=tmp_path / "r",
        weights_dir=tmp_path / "w",
        device="cpu",
        qdrant_url="http://127.0.0.1:6333",
        seed=3,
        allow_downloads=True,
        max_upload_files=5,
        max_upload_mb=7,
        sign_in=True,
        idle_timeout_min=9,
        lockout_attempts=3,
        lockout_min=2,
    )
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("name", ["MAX_UPLOAD_FILES", "MAX_UPLOAD_MB"])
def test_upload_limits_must_be_positive(name: str) -> None:
    with pytest.raises(SettingsError, match=f"ANOMALYLENS_{name}"):
        Settings.from_env({f"ANOMALYLENS_{name}": "0"})


def test_every_variable_has_absurd_values_tried() -> None:
    assert {suffix for suffix, _, _ in ABSURD} == {name.removeprefix("ANOMALYLENS_") for name in Settings().to_env()}


@pytest.mark.parametrize(("suffix", "value", "message"), ABSURD)
def test_absurd_values_are_refused_naming_the_variable_and_what_is_accepted(
    tmp_path: Path, suffix: str, value: str, message: str
) -> None:
    env = {"ANOMALYLENS_REGISTRY": str(tmp_path / "models"), "ANOMALYLENS_DATA_ROOT": str(tmp_path / "data")}
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({**env, f"ANOMALYLENS_{suffix}": value})
    assert not any(tmp_path.iterdir()), "a refused setting creates nothing"


def test_a_refused_api_key_is_not_repeated_in_the_message() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"ANOMALYLENS_QDRANT_API_KEY": "s3cret\n"})
    assert "s3cret" not in str(error.value)


def test_the_largest_accepted_values_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "ANOMALYLENS_SEED": "4294967295",
            "ANOMALYLENS_MAX_IMAGE_PIXELS": "89478485",
            "ANOMALYLENS_MAX_UPLOAD_MB": "1048576",
            "ANOMALYLENS_MAX_UPLOAD_FILES": "10000000",
            "ANOMALYLENS_QDRANT_URL": "https://qdrant.example:6333",
        }
    )
    assert (settings.seed, settings.max_image_pixels, settings.max_upload_mb) == (2**32 - 1, 89_478_485, 1_048_576)


def test_records_settings_are_read_and_default_to_sqlite_under_the_registry_and_this_host(tmp_path: Path) -> None:
    import socket

    defaults = Settings.from_env({"ANOMALYLENS_REGISTRY": str(tmp_path)})
    assert (defaults.database_url, defaults.station, defaults.part_id_pattern) == ("", socket.gethostname(), "")
    assert defaults.records_dir == tmp_path / "records"
    env = {
        "ANOMALYLENS_DATABASE_URL": " postgresql+psycopg://u@127.0.0.1:5432/records ",
        "ANOMALYLENS_STATION": "line-3",
        "ANOMALYLENS_PART_ID_PATTERN": r"(?P<part>P\d+)_(?P<lot>L\d+)",
    }
    settings = Settings.from_env(env)
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1:5432/records"
    assert (settings.station, settings.part_id_pattern) == ("line-3", r"(?P<part>P\d+)_(?P<lot>L\d+)")
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ANOMALYLENS_DATABASE_URL", "mysql://db/records", "sqlite:/// or postgresql\\+psycopg:// URL"),
        ("ANOMALYLENS_PART_ID_PATTERN", "(?P<part>[", "is not a regular expression"),
        ("ANOMALYLENS_PART_ID_PATTERN", r"(?P<serial>\d+)", "has no named group 'part'"),
    ],
)
def test_bad_records_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})
