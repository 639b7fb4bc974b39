"""``deploy/compose.yaml`` cannot be run here (no Docker engine), so its wiring is checked by parsing it and the
nginx configuration it mounts: every replica reaches the same PostgreSQL, Qdrant server and registry volume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from services.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
APP_PORT = 8501
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: each variable takes its default."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: match.group(2) or "", value)
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def apps(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services built from the project's Dockerfile: the app replicas."""
    return {name: service for name, service in services.items() if "build" in service}


@pytest.fixture(scope="module")
def nginx() -> str:
    return (DEPLOY / "nginx.conf").read_text()


def _settings(app: dict[str, Any]) -> Settings:
    """The settings a replica reads from its environment (refused values raise, as in the container)."""
    return Settings.from_env({key: str(value) for key, value in app["environment"].items()})


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Mount point → volume for the service's ``volume:/path`` entries."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        mounts[target] = source
    return mounts


def test_several_replicas_of_the_dockerfile_image_serve_the_app(apps: dict[str, dict[str, Any]]) -> None:
    assert len(apps) >= 2, f"expected at least two app replicas, found {sorted(apps)}"
    for name, app in apps.items():
        assert (DEPLOY / app["build"]["context"]).resolve() == ROOT, name
        assert app["build"]["dockerfile"] == "Dockerfile", name
        assert "command" not in app, f"{name} must run the Dockerfile's CMD (`python -m services.cli serve`)"
        assert str(APP_PORT) in [str(port) for port in app["expose"]], name


def test_every_replica_writes_to_the_one_postgres_service(
    apps: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    urls = {name: _settings(app).database_url for name, app in apps.items()}
    assert len(set(urls.values())) == 1, urls
    url = make_url(next(iter(urls.values())))
    postgres = services[url.host]
    assert postgres["image"].startswith("postgres:")
    assert url.drivername == "postgresql+psycopg" and url.port == 5432
    environment = postgres["environment"]
    assert (url.username, url.password, url.database) == (
        environment["POSTGRES_USER"],
        environment["POSTGRES_PASSWORD"],
        environment["POSTGRES_DB"],
    )
    assert "/var/lib/postgresql/data" in _named_volumes(postgres), "the database must outlive its container"
    for name, app in apps.items():
        assert app["depends_on"][url.host]["condition"] == "service_healthy", name


def test_every_replica_uses_the_one_qdrant_server(
    apps: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    urls = {name: _settings(app).qdrant_url for name, app in apps.items()}
    assert set(urls.values()) == {"http://qdrant:6333"}, urls
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    assert "/qdrant/storage" in _named_volumes(services["qdrant"])
    for name, app in apps.items():
        assert "qdrant" in app["depends_on"], name


def test_every_replica_mounts_the_shared_registry_volume_at_its_registry(
    apps: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    volumes = set()
    for name, app in apps.items():
        settings = _settings(app)
        mounts = _named_volumes(app)
        assert str(settings.registry_dir) in mounts, f"{name} does not mount a volume at {settings.registry_dir}"
        assert str(settings.data_root) in mounts, f"{name} does not mount a volume at {settings.data_root}"
        volumes.add((mounts[str(settings.registry_dir)], mounts[str(settings.data_root)]))
    assert len(volumes) == 1, f"the replicas mount different volumes: {volumes}"
    registry, data = volumes.pop()
    assert registry in compose["volumes"] and data in compose["volumes"]


def test_each_replica_names_its_own_station(apps: dict[str, dict[str, Any]]) -> None:
    stations = [_settings(app).station for app in apps.values()]
    assert sorted(stations) == sorted(apps), "each replica's station is its service name"


def test_the_proxy_is_the_one_address_in_front_of_every_replica(
    apps: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]], nginx: str
) -> None:
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert sorted(proxy["depends_on"]) == sorted(apps)
    assert [port.split(":")[-1] for port in proxy["ports"]] == ["80"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["proxy"], "only the proxy may publish a port"
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", nginx)
    assert upstream is not None, "nginx.conf has no upstream block"
    servers = re.findall(r"server\s+([\w-]+):(\d+);", upstream.group(2))
    assert sorted(servers) == sorted((name, str(APP_PORT)) for name in apps)
    assert f"proxy_pass http://{upstream.group(1)};" in nginx


def test_the_proxy_keeps_sessions_sticky_and_forwards_websockets(nginx: str) -> None:
    assert re.search(r"upstream\s+\w+\s*\{[^}]*\n\s*ip_hash;", nginx), "Streamlit sessions need affinity"
    assert "proxy_http_version 1.1;" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $connection_upgrade;" in nginx


def test_the_proxy_accepts_uploads_as_large_as_the_app_does(nginx: str) -> None:
    size = re.search(r"client_max_body_size\s+(\d+)m;", nginx)
    assert size is not None and int(size.group(1)) >= Settings().max_upload_mb
