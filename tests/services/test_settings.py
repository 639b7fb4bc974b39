"""Settings come from ANOMALYLENS_* variables with documented defaults and clear errors."""

from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT, Settings, SettingsError


def test_defaults_live_in_the_project() -> None:
    settings = Settings.from_env({})
    assert settings.data_root == PROJECT_ROOT / "data"
    assert settings.registry_dir == PROJECT_ROOT / "models"
    assert settings.qdrant_path == PROJECT_ROOT / "models" / "qdrant"
    assert settings.device == "auto"
    assert settings.qdrant_url == ""
    assert settings.allow_downloads is False


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
        ("ANOMALYLENS_MAX_IMAGE_PIXELS", "0", "must be positive"),
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
    )
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("name", ["MAX_UPLOAD_FILES", "MAX_UPLOAD_MB"])
def test_upload_limits_must_be_positive(name: str) -> None:
    with pytest.raises(SettingsError, match=f"ANOMALYLENS_{name}"):
        Settings.from_env({f"ANOMALYLENS_{name}": "0"})


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
