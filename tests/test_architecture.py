"""docs/architecture.md against the tree: it lists every package and module of services/; imports follow its order."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "services"
DOC = ROOT / "docs" / "architecture.md"
ORDER_LINE = re.compile(r"^Import order: (.+)$", re.MULTILINE)
TABLE_PATH = re.compile(r"^\| `(services/[^`]*)` \|", re.MULTILINE)
UI_PACKAGES = frozenset({"streamlit", "components", "pages", "app"})


def stage_order(doc: str) -> list[str]:
    """The stages on the doc's ``Import order:`` line, first to last."""
    match = ORDER_LINE.search(doc)
    assert match, f"{DOC} has no 'Import order:' line"
    return re.findall(r"`([a-z_]+)`", match.group(1))


def documented_paths(doc: str) -> set[str]:
    """The backticked ``services/…`` paths that open a row of the doc's tables."""
    return set(TABLE_PATH.findall(doc))


def existing_paths(services: Path) -> set[str]:
    """Every package folder (``services/data/``) and module but ``__init__.py`` under ``services``, as doc paths."""
    files = [path for path in services.rglob("*.py") if "__pycache__" not in path.parts]
    modules = {path.relative_to(services.parent).as_posix() for path in files if path.name != "__init__.py"}
    packages = {path.parent.relative_to(services.parent).as_posix() + "/" for path in files if path.parent != services}
    return modules | packages


def _imports(tree: ast.Module, package: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted module)`` of every import in ``tree``, nested ones included; relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            if base == "services":
                yield from ((node.lineno, f"services.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, base


def _stage(module: str, order: Sequence[str]) -> str:
    """The stage of a dotted ``services…`` name: its first part under ``services``; the package root is the base."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else order[0]


def import_violations(services: Path, order: Sequence[str]) -> list[str]:
    """``path:line`` and why, for each import under ``services`` of a later stage, an unknown one or the UI."""
    rank = {stage: index for index, stage in enumerate(order)}
    found: list[str] = []
    for path in sorted(path for path in services.rglob("*.py") if "__pycache__" not in path.parts):
        relative = path.relative_to(services.parent)
        module = ".".join(relative.with_suffix("").parts)
        package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rpartition(".")[0]
        own = _stage(module.removesuffix(".__init__"), order)
        for line, target in _imports(ast.parse(path.read_text(), str(path)), package):
            where = f"{relative.as_posix()}:{line} imports {target}"
            top = target.split(".")[0]
            if top in UI_PACKAGES:
                found.append(f"{where}: services/ never imports the UI")
            elif top == "services":
                stage = _stage(target, order)
                if stage not in rank or own not in rank:
                    found.append(f"{where}: {stage if stage not in rank else own} is not a stage")
                elif rank[stage] > rank[own]:
                    found.append(f"{where}: {stage} comes after {own}")
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)


def test_doc_order_names_every_top_level_package_of_services() -> None:
    order = stage_order(DOC.read_text())
    top_level = {path.stem for path in SERVICES.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    assert order[0] == "settings" and order[-1] == "cli"
    assert sorted(order) == sorted(top_level - {"__init__"})


def test_doc_table_lists_exactly_the_packages_and_modules_of_services() -> None:
    documented, existing = documented_paths(DOC.read_text()), existing_paths(SERVICES)
    assert not existing - documented, f"missing from {DOC.name}: {sorted(existing - documented)}"
    assert not documented - existing, f"in {DOC.name} but not in services/: {sorted(documented - existing)}"


def test_doc_table_check_sees_a_missing_and_a_stale_entry(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/settings.py": "",
            "services/data/__init__.py": "",
            "services/data/images.py": "",
        },
    )
    doc = "| `services/settings.py` | settings |\n| `services/data/` | data |\n| `services/data/old.py` | gone |\n"
    existing = existing_paths(tmp_path / "services")
    assert existing == {"services/settings.py", "services/data/", "services/data/images.py"}
    assert existing - documented_paths(doc) == {"services/data/images.py"}
    assert documented_paths(doc) - existing == {"services/data/old.py"}


def test_services_import_only_their_own_or_earlier_stages_and_never_the_ui() -> None:
    assert import_violations(SERVICES, stage_order(DOC.read_text())) == []


def test_import_checker_reports_upward_relative_lazy_and_ui_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/settings.py": "",
            "services/data/__init__.py": "",
            "services/data/loader.py": "from services.settings import Settings\nimport services.inference.detector\n",
            "services/data/views.py": "import streamlit as st\nfrom ..inference import detector\n",
            "services/data/lazy.py": "def build():\n    from services import inference\n",
            "services/inference/__init__.py": "",
            "services/inference/detector.py": "from services.data import loader\nfrom . import helpers\n",
            "services/inference/helpers.py": "from components.shared import style\n",
            "services/extra.py": "from services.settings import Settings\n",
        },
    )
    assert import_violations(tmp_path / "services", ["settings", "data", "inference"]) == [
        "services/data/lazy.py:2 imports services.inference: inference comes after data",
        "services/data/loader.py:2 imports services.inference.detector: inference comes after data",
        "services/data/views.py:1 imports streamlit: services/ never imports the UI",
        "services/data/views.py:2 imports services.inference: inference comes after data",
        "services/extra.py:1 imports services.settings: extra is not a stage",
        "services/inference/helpers.py:1 imports components.shared: services/ never imports the UI",
    ]
